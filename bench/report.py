#!/usr/bin/env python3
"""Turns bench/run.sh's raw results (key=value lines; callbench lines are themselves key=value
pairs) into the Markdown table of bench/RESULTS.md, and prints it.

  report.py RESULTS_ENV OUTPUT_MD
"""
import json
import os
import statistics
import sys


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


def ratio(value):
    return "–" if value is None else f"{value:.2f}×"


def verdict(ok):
    return "–" if ok is None else ("met" if ok else "**missed**")


def main(source, target):
    raw = load(source)
    lines = []
    goals = []
    say = lines.append

    say("# Tessera benchmark results")
    say("")
    say(f"Run {raw.get('date', '?')} ({raw.get('mode', '?')} mode) by `make bench` (bench/run.sh). "
        "Machine: " f"{raw.get('machine.nproc', '?')} CPUs ({raw.get('machine.cpu', '?')}), "
        f"{raw.get('machine.kernel', '?')}, load average at start {raw.get('machine.loadavg', '?')}.")
    say(f"Versions: {raw.get('version.swift', '?')}; {raw.get('version.dbus', '?')}; "
        f"{raw.get('version.oidc_agent', '?')}; {raw.get('version.hyperfine', '?')}; tessera {raw.get('version.tessera', '?')}.")
    say("")
    say("Every D-Bus figure comes from the same C libdbus client (`bench/callbench.c`: blocking calls, one private "
        "connection per client thread) through the same private dbus-daemon; the floor is a C libdbus server that "
        "replies inline. Several rounds alternate floor and tesserad; figures are medians over rounds, ratios are "
        "medians of the per-round ratios.")
    say("")

    # 1 + 2
    floor1, agent1 = rounds(raw, "floor.seq"), rounds(raw, "gettoken.seq")
    say("## 1–2. One client, sequential calls")
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
    say(f"GetToken p50 / floor p50: **{ratio(p50_ratio)}** (goal ≤ 1.2×; median over {len(pairs)} floor/tesserad pairs, "
        f"per pair {', '.join(ratio(a['p50_us'] / f['p50_us']) for f, a in pairs)}); server CPU per call, "
        f"tesserad / floor: {ratio(cpu_ratio)}.")
    goals.append(("GetToken cached p50 ≤ 1.2× floor", ratio(p50_ratio), verdict(None if p50_ratio is None else p50_ratio <= 1.2)))
    say("")

    # 3
    say("## 3. Many clients (fixed call count, aggregate)")
    say("")
    say("| clients | floor calls/s | tesserad calls/s | ratio (goal ≥ 0.8×) | floor p99 | tesserad p99 | tesserad errors |")
    say("|---|---|---|---|---|---|---|")
    worst = None
    errors_total = 0
    for clients in (1, 4, 16, 64):
        floor, agent = rounds(raw, f"floor.c{clients}"), rounds(raw, f"gettoken.c{clients}")
        if not floor or not agent:
            continue
        r = median([a["calls_per_s"] / f["calls_per_s"] for f, a in zip(floor, agent)])
        worst = r if worst is None else min(worst, r)
        errors = sum(a["errors"] for a in agent)
        errors_total += errors
        say(f"| {clients} | {median([f['calls_per_s'] for f in floor]):.0f} | {median([a['calls_per_s'] for a in agent]):.0f} | "
            f"{ratio(r)} | {us(median([f['p99_us'] for f in floor]))} | {us(median([a['p99_us'] for a in agent]))} | {errors:.0f} |")
    goals.append(("many clients ≥ 0.8× floor (worst client count)", ratio(worst), verdict(None if worst is None else worst >= 0.8)))
    goals.append(("many clients: zero errors", f"{errors_total:.0f}", verdict(errors_total == 0)))
    say("")

    # 4
    unloaded, loaded, slow = fields(raw.get("hol.unloaded")), fields(raw.get("hol.loaded")), fields(raw.get("hol.slow"))
    say("## 4. Head-of-line: cached calls for `fast` while `slow`'s refresh hangs 3 s at the provider")
    say("")
    say("| | p50 | p99 | max |")
    say("|---|---|---|---|")
    say(f"| `fast`, unloaded | {us(unloaded.get('p50_us'))} | {us(unloaded.get('p99_us'))} | {us(unloaded.get('max_us'))} |")
    say(f"| `fast`, during the hang | {us(loaded.get('p50_us'))} | {us(loaded.get('p99_us'))} | {us(loaded.get('max_us'))} |")
    say(f"| `slow` (the hanging refresh) | {us(slow.get('p50_us'))} | | |")
    hol = loaded["p50_us"] / unloaded["p50_us"] if loaded.get("p50_us") and unloaded.get("p50_us") else None
    say("")
    say(f"During/unloaded p50: **{ratio(hol)}** (goal ≤ 2×); the hang was still in progress when the "
        f"measurement ended: {raw.get('hol.overlap', '?')}. oidc-agent in the same situation: "
        f"`oidc-token fast` took {raw.get('hol.oidc_agent_ms', '?')} ms (whole process; its agent answers requests one at a time).")
    goals.append(("head-of-line ≤ 2× unloaded", ratio(hol), verdict(None if hol is None else hol <= 2 and raw.get("hol.overlap") == "yes")))
    say("")

    # 5
    coalesce = fields(raw.get("coalesce.run"))
    refreshes = raw.get("coalesce.refreshes")
    say("## 5. Coalescing: concurrent callers on one expired token")
    say("")
    say(f"{coalesce.get('clients', 0):.0f} callers (one connection each, released together): provider refreshes "
        f"**{refreshes}** (goal 1); all had a token after {us(coalesce.get('max_us'))} (p50 {us(coalesce.get('p50_us'))}); "
        f"errors {coalesce.get('errors', 0):.0f}.")
    goals.append(("coalescing: 1 refresh", str(refreshes), verdict(refreshes == "1" and coalesce.get("errors", 1) == 0)))
    say("")

    # 6
    say("## 6. CLI, whole process (hyperfine, `--shell=none`)")
    say("")
    cli = {}
    try:
        with open(raw["cli.json"]) as f:
            for result in json.load(f)["results"]:
                times = sorted(result["times"])
                cli[result["command"]] = (statistics.median(times) * 1000, times[int(0.9 * (len(times) - 1))] * 1000, len(times))
    except (KeyError, OSError, ValueError):
        pass
    say("| command | median | p90 | runs |")
    say("|---|---|---|---|")
    for command, (med, p90, n) in cli.items():
        say(f"| `{command}` | {ms(med)} | {ms(p90)} | {n} |")
    cli_ratio = None
    if "tessera token fast" in cli and "oidc-token fast" in cli:
        cli_ratio = cli["tessera token fast"][0] / cli["oidc-token fast"][0]
    say("")
    say(f"`tessera token` / `oidc-token` median: **{ratio(cli_ratio)}** (goal ≤ 1.0×). "
        f"tessera: {raw.get('cli.libraries', '?')} shared libraries, {int(raw.get('cli.size_bytes', 0)) // 1024} KiB, "
        f"dynamic loader {raw.get('cli.ld_startup', '?')}, {raw.get('cli.relocations', '?')} relocations, "
        f"{raw.get('cli.syscalls', '?')} system calls (oidc-token: {raw.get('oidc_token.syscalls', '?')}).")
    goals.append(("CLI ≤ 1.0× oidc-token (median)", ratio(cli_ratio), verdict(None if cli_ratio is None else cli_ratio <= 1.0)))
    say("")

    # 7
    calls = fields(raw.get("footprint.calls"))
    wakeup_fields = raw.get("footprint.idle_wakeups", "").split()
    wakeups = wakeup_fields[0] if wakeup_fields else None
    by_thread = ", ".join(wakeup_fields[1:]) or "none"
    oidc_wakeups = (raw.get("footprint.oidc_agent_idle_wakeups", "").split() or ["?"])[0]
    ping = [fields(raw.get(f"activation.ping.r{i}")).get("p50_us") for i in range(1, 20) if f"activation.ping.r{i}" in raw]
    first = [fields(raw.get(f"activation.gettoken.r{i}")).get("p50_us") for i in range(1, 20) if f"activation.gettoken.r{i}" in raw]
    say("## 7. Footprint")
    say("")
    say("| | |")
    say("|---|---|")
    say(f"| RSS at start (accounts loaded, {raw.get('footprint.threads', '?')} threads) | {int(raw.get('footprint.rss_start_kb', 0)) / 1024:.1f} MiB |")
    say(f"| RSS after {calls.get('calls', 0):.0f} GetToken calls (4 clients, {calls.get('calls_per_s', 0):.0f} calls/s, {calls.get('errors', 0):.0f} errors) | {int(raw.get('footprint.rss_after_kb', 0)) / 1024:.1f} MiB |")
    say(f"| CPU time over {raw.get('footprint.idle_seconds', '?')} s idle | {raw.get('footprint.idle_cpu_ms', '?')} ms |")
    say(f"| wake-ups (context switches, all threads) over {raw.get('footprint.idle_seconds', '?')} s idle | {wakeups} "
        f"(by thread: {by_thread}); oidc-agent in the same time: {oidc_wakeups} |")
    say(f"| cold D-Bus activation → first reply (Peer.Ping), median of {len(ping)} | {ms(median(ping) / 1000 if ping else None)} |")
    say(f"| cold D-Bus activation → first GetToken (keyring read + refresh), median of {len(first)} | {ms(median(first) / 1000 if first else None)} |")
    goals.append(("idle: no wake-ups", str(wakeups), verdict(None if wakeups is None else wakeups == "0")))
    say("")

    say("## Goals")
    say("")
    say("| goal | measured | verdict |")
    say("|---|---|---|")
    for goal, measured, outcome in goals:
        say(f"| {goal} | {measured} | {outcome} |")
    say("")

    # The hand-written reading of the profiles (what is in the way), kept next to the figures.
    analysis = os.path.join(os.path.dirname(os.path.abspath(__file__)), "PROFILE.md")
    if os.path.exists(analysis):
        with open(analysis) as f:
            lines.append(f.read().rstrip("\n"))
        say("")

    text = "\n".join(lines)
    with open(target, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1], sys.argv[2])
