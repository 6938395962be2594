#!/usr/bin/env python3
"""Turns bench/run.sh's raw results (key=value lines; callbench and memory lines are themselves
key=value pairs) into bench/RESULTS.md: the goals of issue 15 with their verdicts first, then the
measurements they come from, all from the one run. Prints nothing; writes OUTPUT_MD.

  report.py RESULTS_ENV OUTPUT_MD
"""
import json
import os
import statistics
import sys

NOT_MEASURED = "not measured"
# "No growth" of tesserad's RSS over the cached calls: the first calls may touch a few more
# allocator pages, a leak grows with the call count. 1 MiB over 100 000 calls is 10 bytes a call.
GROWTH_TOLERANCE_KB = 1024


def load(path):
    raw = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if "=" in line:
                key, value = line.split("=", 1)
                raw[key] = value
    return raw


def fields(line):
    """A callbench line: clients=1 calls=… p50_us=… → dict of floats (empty when missing)."""
    result = {}
    for item in (line or "").split():
        if "=" in item:
            key, value = item.split("=", 1)
            try:
                result[key] = float(value)
            except ValueError:
                pass
    return result


def rounds(raw, prefix):
    found = []
    index = 1
    while f"{prefix}.r{index}" in raw:
        found.append(fields(raw[f"{prefix}.r{index}"]))
        index += 1
    return [r for r in found if r]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def us(value):
    return "–" if value is None else f"{value:.0f} µs" if value < 10000 else f"{value / 1000:.1f} ms"


def ms(value):
    return "–" if value is None else f"{value:.2f} ms"


def mib(kb):
    return "–" if kb is None else f"{kb / 1024:.1f} MiB"


def ratio(value):
    return "–" if value is None else f"{value:.2f}×"


def verdict(ok):
    return NOT_MEASURED if ok is None else ("met" if ok else "**not met**")


def main(source, target):
    raw = load(source)
    body = []  # the measurements, after the goals
    goals = []  # (measure, goal, measured, verdict)
    say = body.append

    # ------------------------------------------------------------------ 1-2
    floor1, agent1 = rounds(raw, "floor.seq"), rounds(raw, "gettoken.seq")
    p50_ratio = None
    if floor1 and agent1:
        say("## One client, sequential calls")
        say("")
        say("| | p50 | p99 | calls/s | server CPU per call | errors |")
        say("|---|---|---|---|---|---|")
        for name, data in (("C floor (Echo)", floor1), ("tesserad GetToken, cached", agent1)):
            say(f"| {name} | {us(median([r['p50_us'] for r in data]))} | {us(median([r['p99_us'] for r in data]))} | "
                f"{median([r['calls_per_s'] for r in data]) or 0:.0f} | {us(median([r.get('server_cpu_us') for r in data]))} | "
                f"{sum(r['errors'] for r in data):.0f} |")
        # Section 3's one-client rows are the same measurement again: the ratio uses every pair.
        pairs = list(zip(floor1, agent1)) + list(zip(rounds(raw, "floor.c1"), rounds(raw, "gettoken.c1")))
        p50_ratio = median([a["p50_us"] / f["p50_us"] for f, a in pairs])
        cpu_ratio = median([a["server_cpu_us"] / f["server_cpu_us"] for f, a in pairs
                            if a.get("server_cpu_us") and f.get("server_cpu_us")])
        say("")
        say(f"GetToken p50 / floor p50: **{ratio(p50_ratio)}** (median over {len(pairs)} floor/tesserad pairs, "
            f"per pair {', '.join(ratio(a['p50_us'] / f['p50_us']) for f, a in pairs)}); server CPU per call, "
            f"tesserad / floor: {ratio(cpu_ratio)}.")
        say("")
        measured = (f"{ratio(p50_ratio)} ({us(median([r['p50_us'] for r in agent1]))} / "
                    f"{us(median([r['p50_us'] for r in floor1]))})")
    else:
        measured = NOT_MEASURED
    goals.append(("cached GetToken p50 / C floor p50", "≤ 1.2×", measured,
                  verdict(None if p50_ratio is None else p50_ratio <= 1.2)))

    # ------------------------------------------------------------------ 3
    by_clients = {}
    for clients in (1, 4, 16, 64):
        floor, agent = rounds(raw, f"floor.c{clients}"), rounds(raw, f"gettoken.c{clients}")
        if floor and agent:
            by_clients[clients] = (floor, agent)
    if by_clients:
        say("## Many clients (fixed call count, aggregate)")
        say("")
        say("| clients | floor calls/s | tesserad calls/s | ratio | floor p99 | tesserad p99 | tesserad errors |")
        say("|---|---|---|---|---|---|---|")
        for clients, (floor, agent) in by_clients.items():
            r = median([a["calls_per_s"] / f["calls_per_s"] for f, a in zip(floor, agent)])
            say(f"| {clients} | {median([f['calls_per_s'] for f in floor]):.0f} | {median([a['calls_per_s'] for a in agent]):.0f} | "
                f"{ratio(r)} | {us(median([f['p99_us'] for f in floor]))} | {us(median([a['p99_us'] for a in agent]))} | "
                f"{sum(a['errors'] for a in agent):.0f} |")
        say("")
        say("Ratios are medians of the per-round ratios; the goal is the 16-client row.")
        say("")
    if 16 in by_clients:
        floor, agent = by_clients[16]
        per_round = [a["calls_per_s"] / f["calls_per_s"] for f, a in zip(floor, agent)]
        r16 = median(per_round)
        errors16 = sum(a["errors"] for a in agent)
        goals.append(("16 clients, calls/s / floor's", "≥ 0.8×, 0 errors",
                      f"{ratio(r16)} (median of the rounds' {', '.join(ratio(r) for r in per_round)}; medians "
                      f"{median([a['calls_per_s'] for a in agent]):.0f} / {median([f['calls_per_s'] for f in floor]):.0f} "
                      f"calls/s), {errors16:.0f} errors",
                      verdict(r16 >= 0.8 and errors16 == 0)))
    else:
        goals.append(("16 clients, calls/s / floor's", "≥ 0.8×, 0 errors", NOT_MEASURED, verdict(None)))

    # ------------------------------------------------------------------ CLI
    cli_times = {}
    for index in range(1, 100):
        path = raw.get(f"cli.json.r{index}")
        if path is None:
            break
        try:
            with open(path) as f:
                for result in json.load(f)["results"]:
                    cli_times.setdefault(result["command"], []).extend(result["times"])
        except (OSError, ValueError, KeyError):
            pass
    cli = {}
    for command, times in cli_times.items():
        times = sorted(times)
        cli[command] = (statistics.median(times) * 1000, times[int(0.9 * (len(times) - 1))] * 1000, len(times))

    def cli_goal(name, ours, theirs, goal, better):
        if ours in cli and theirs in cli:
            value = cli[ours][0] / cli[theirs][0]
            goals.append((name, goal, f"{ratio(value)} ({ms(cli[ours][0])} / {ms(cli[theirs][0])})", verdict(better(value))))
            return value
        goals.append((name, goal, NOT_MEASURED, verdict(None)))
        return None

    token_ratio = cli_goal("`tessera token` (cached) median / `oidc-token` median", "tessera token fast",
                           "oidc-token fast", "≤ 1.0×", lambda v: v <= 1.0)
    version_ratio = cli_goal("`tessera --version` median / `oidc-token --version` median", "tessera --version",
                             "oidc-token --version", "< 1.0×", lambda v: v < 1.0)
    if cli:
        say("## CLI, whole process (hyperfine, `--shell=none`, rounds alternating the four commands)")
        say("")
        say("| command | median | p90 | runs |")
        say("|---|---|---|---|")
        for command, (med, p90, n) in cli.items():
            say(f"| `{command}` | {ms(med)} | {ms(p90)} | {n} |")
        say("")
        say(f"`tessera token` / `oidc-token` median: **{ratio(token_ratio)}**; `--version`: **{ratio(version_ratio)}**. "
            f"tessera: {raw.get('cli.linkage', '?')}, {int(raw.get('cli.size_bytes', 0)) // 1024} KiB; one "
            f"`tessera token` makes {raw.get('cli.syscalls', '?')} system calls and {raw.get('cli.page_faults') or '?'} "
            f"page faults (oidc-token: {raw.get('oidc_token.syscalls', '?')} and {raw.get('oidc_token.page_faults') or '?'}).")
        say("")

    # ------------------------------------------------------------------ memory
    start, warm, after_calls, after_logins = (fields(raw.get(k)) for k in
                                              ("memory.start", "memory.warm", "memory.after_calls", "memory.after_logins"))
    calls, logins, oidc_memory = fields(raw.get("memory.calls")), fields(raw.get("memory.logins")), fields(raw.get("memory.oidc_agent"))
    if start:
        # Growth is counted from after the warm-up calls (first keyring read and refresh), when measured.
        base = warm or start
        growth = after_calls["rss_kb"] - base["rss_kb"] if after_calls else None
        say("## tesserad memory (`/proc/PID/smaps_rollup`)")
        say("")
        say("| | RSS | PSS | threads |")
        say("|---|---|---|---|")
        say(f"| at start (fresh process, accounts in the keyring, after its first reply) | {mib(start.get('rss_kb'))} | "
            f"{mib(start.get('pss_kb'))} | {start.get('threads', 0):.0f} |")
        if warm:
            say(f"| after its first 1000 GetToken calls (keyring read, one refresh: libsecret and libcurl loaded) | "
                f"{mib(warm.get('rss_kb'))} | {mib(warm.get('pss_kb'))} | {warm.get('threads', 0):.0f} |")
        if after_calls:
            say(f"| after {calls.get('calls', 0):.0f} cached GetToken calls (4 clients, {calls.get('calls_per_s', 0):.0f} "
                f"calls/s, {calls.get('errors', 0):.0f} errors) | {mib(after_calls.get('rss_kb'))} | "
                f"{mib(after_calls.get('pss_kb'))} | {after_calls.get('threads', 0):.0f} |")
        if after_logins:
            say(f"| after {logins.get('logins', 0):.0f} more password logins ({logins.get('failures', 0):.0f} failed, "
                f"{logins.get('seconds', 0):.1f} s) | {mib(after_logins.get('rss_kb'))} | {mib(after_logins.get('pss_kb'))} | "
                f"{after_logins.get('threads', 0):.0f} |")
        if oidc_memory:
            say(f"| oidc-agent's daemon, for comparison | {mib(oidc_memory.get('rss_kb'))} | {mib(oidc_memory.get('pss_kb'))} | "
                f"{oidc_memory.get('threads', 0):.0f} |")
        say("")
        say(f"\"No growth\" allows {GROWTH_TOLERANCE_KB // 1024} MiB, counted from after the first 1000 calls (the first "
            "call loads libsecret and libcurl and touches allocator pages once; a leak grows with the call count).")
        say("")
        ordering = fields(raw.get("memory.ordering"))
        if ordering:
            say(f"The release link lays out the functions listed in `Sources/tesserad/hot-functions.order` together: "
                f"{ordering.get('found', 0):.0f} of its {ordering.get('listed', 0):.0f} names are in this binary "
                "(when many are gone, regenerate it: bench/order-functions.sh).")
            say("")
        goals.append(("tesserad RSS at start", "≤ 15 MiB", f"{mib(start['rss_kb'])} (PSS {mib(start.get('pss_kb'))})",
                      verdict(start["rss_kb"] <= 15 * 1024)))
        if growth is not None:
            goals.append((f"tesserad RSS after {calls.get('calls', 0):.0f} cached calls", "no growth",
                          f"{mib(after_calls['rss_kb'])} ({growth / 1024:+.1f} MiB; PSS {mib(after_calls.get('pss_kb'))})",
                          verdict(growth <= GROWTH_TOLERANCE_KB)))
        if after_logins:
            goals.append((f"tesserad RSS after {logins.get('logins', 0):.0f} logins", "(reported)",
                          f"{mib(after_logins['rss_kb'])} (PSS {mib(after_logins.get('pss_kb'))}; "
                          f"{logins.get('failures', 0):.0f} failed)", "–"))
    else:
        goals.append(("tesserad RSS at start / after 100k calls", "≤ 15 MiB / no growth", NOT_MEASURED, verdict(None)))

    # ------------------------------------------------------------------ idle
    wakeup_fields = raw.get("idle.wakeups", "").split()
    if wakeup_fields:
        wakeups, cpu_ms = wakeup_fields[0], raw.get("idle.cpu_ms", "?")
        by_thread = ", ".join(wakeup_fields[1:]) or "none"
        oidc_wakeups = (raw.get("idle.oidc_agent_wakeups", "").split() or ["?"])[0]
        seconds = raw.get("idle.seconds", "?")
        say(f"## Idle, {seconds} s")
        say("")
        say(f"tesserad ({raw.get('idle.threads', '?')} threads) woke {wakeups} times (context switches, all threads; by "
            f"thread: {by_thread}) and used {cpu_ms} ms of CPU; oidc-agent in the same time: {oidc_wakeups} wake-ups.")
        say("")
        goals.append((f"idle {seconds} s: wake-ups, CPU", "0, 0 ms", f"{wakeups}, {cpu_ms} ms",
                      verdict(wakeups == "0" and cpu_ms == "0")))
    else:
        goals.append(("idle 60 s: wake-ups, CPU", "0, 0 ms", NOT_MEASURED, verdict(None)))

    # ------------------------------------------------------------------ activation
    ping = [r.get("p50_us") for r in rounds(raw, "activation.ping")]
    first = [r.get("p50_us") for r in rounds(raw, "activation.gettoken")]
    if ping:
        ping_ms = median(ping) / 1000
        say("## Cold D-Bus activation (the bus starts tesserad on the first call)")
        say("")
        say("| | median | runs |")
        say("|---|---|---|")
        say(f"| → first reply (Peer.Ping) | {ms(ping_ms)} | {len(ping)} |")
        say(f"| → first GetToken (keyring read + refresh) | {ms(median(first) / 1000 if first else None)} | {len(first)} |")
        say("")
        goals.append(("cold D-Bus activation → first reply (Peer.Ping)", "≤ 15 ms",
                      f"{ms(ping_ms)} (median of {len(ping)})", verdict(ping_ms <= 15)))
    else:
        goals.append(("cold D-Bus activation → first reply (Peer.Ping)", "≤ 15 ms", NOT_MEASURED, verdict(None)))

    # ------------------------------------------------------------------ 4-5 (earlier goals, kept)
    unloaded, loaded, slow = fields(raw.get("hol.unloaded")), fields(raw.get("hol.loaded")), fields(raw.get("hol.slow"))
    if unloaded and loaded:
        say("## Head-of-line: cached calls for `fast` while `slow`'s refresh hangs 3 s at the provider")
        say("")
        say("| | p50 | p99 | max |")
        say("|---|---|---|---|")
        say(f"| `fast`, unloaded | {us(unloaded.get('p50_us'))} | {us(unloaded.get('p99_us'))} | {us(unloaded.get('max_us'))} |")
        say(f"| `fast`, during the hang | {us(loaded.get('p50_us'))} | {us(loaded.get('p99_us'))} | {us(loaded.get('max_us'))} |")
        say(f"| `slow` (the hanging refresh) | {us(slow.get('p50_us'))} | | |")
        hol = loaded["p50_us"] / unloaded["p50_us"] if loaded.get("p50_us") and unloaded.get("p50_us") else None
        say("")
        say(f"During/unloaded p50: **{ratio(hol)}**; the hang was still in progress when the measurement ended: "
            f"{raw.get('hol.overlap', '?')}. oidc-agent in the same situation: `oidc-token fast` took "
            f"{raw.get('hol.oidc_agent_ms', '?')} ms (whole process; its agent answers requests one at a time).")
        say("")
        goals.append(("head-of-line: cached p50 during a hung refresh / unloaded", "≤ 2×", ratio(hol),
                      verdict(None if hol is None else hol <= 2 and raw.get("hol.overlap") == "yes")))
    coalesce = fields(raw.get("coalesce.run"))
    refreshes = raw.get("coalesce.refreshes")
    if coalesce:
        say("## Coalescing: concurrent callers on one expired token")
        say("")
        say(f"{coalesce.get('clients', 0):.0f} callers (one connection each, released together): provider refreshes "
            f"**{refreshes}**; all had a token after {us(coalesce.get('max_us'))} (p50 {us(coalesce.get('p50_us'))}); "
            f"errors {coalesce.get('errors', 0):.0f}.")
        say("")
        goals.append((f"coalescing: refreshes for {coalesce.get('clients', 0):.0f} callers on one expired token", "1",
                      f"{refreshes}, {coalesce.get('errors', 0):.0f} errors",
                      verdict(refreshes == "1" and coalesce.get("errors", 1) == 0)))

    # ------------------------------------------------------------------ the page
    lines = []
    head = lines.append
    head("# Tessera benchmark results")
    head("")
    duration = raw.get("duration_s")
    head(f"Run {raw.get('date', '?')} ({raw.get('mode', '?')} mode, "
         f"{'?' if duration is None else f'{int(duration) // 60} min {int(duration) % 60} s'}) by `make bench` "
         f"(bench/run.sh). Machine: {raw.get('machine.nproc', '?')} CPUs ({raw.get('machine.cpu', '?')}), "
         f"{raw.get('machine.kernel', '?')}, load average at start {raw.get('machine.loadavg', '?')}.")
    head(f"Versions: {raw.get('version.swift', '?')}; {raw.get('version.dbus', '?')}; "
         f"{raw.get('version.oidc_agent', '?')}; {raw.get('version.hyperfine', '?')}; tessera {raw.get('version.tessera', '?')}.")
    head("")
    head("Every D-Bus figure comes from the same C libdbus client (`bench/callbench.c`: blocking calls, one private "
         "connection per client thread) through the same private dbus-daemon; the floor is a C libdbus server that "
         "replies inline. Rounds alternate floor and tesserad; figures are medians over rounds, ratios medians of the "
         "per-round ratios. oidc-agent 4.2.6 holds an account on the same local provider as tesserad.")
    head("")
    head("## Goals (issue 15), all from this run")
    head("")
    head("| measure | goal | measured | verdict |")
    head("|---|---|---|---|")
    for measure, goal, measured, outcome in goals:
        head(f"| {measure} | {goal} | {measured} | {outcome} |")
    head("")
    lines.extend(body)

    # The hand-written reading of the profiles (what is in the way), kept next to the figures.
    analysis = os.path.join(os.path.dirname(os.path.abspath(__file__)), "PROFILE.md")
    if os.path.exists(analysis):
        with open(analysis) as f:
            lines.append(f.read().rstrip("\n"))
        lines.append("")

    with open(target, "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1], sys.argv[2])
