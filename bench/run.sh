#!/usr/bin/env bash
# Tessera's benchmark: tesserad and the tessera CLI next to the C libdbus floor and oidc-agent 4.2.6,
# all against the same local test provider, in one throw-away session (private bus, keyring).
# Writes bench/RESULTS.md (every goal of issue 15 with its verdict, from this one run) and stops
# every process it started. Run through `make bench`, which builds the release binaries and
# installs the peers (scripts/deps.sh --bench) first. A full run takes about 6 minutes here, a
# quick one about 1 minute (2-core VM, loaded).
#
# Environment: BENCH_QUICK=1 (fewer calls, 5 s idle; written to bench/out/RESULTS-quick.md),
# BENCH_ONLY=SECTION,... (only those sections: seq clients hol coalesce cli memory idle activation;
# written to bench/out/RESULTS-partial.md), BENCH_BIN (directory of the release
# tesserad and tessera; default: SwiftPM's release bin path for $SWIFTFLAGS), SWIFT, SWIFTFLAGS,
# BENCH_EXPLORE=CMD (after set-up, run CMD in the bench's session instead of measuring: for
# profiling by hand; it sees BIN, OIDC_SOCK and the session's bus, and both agents hold `fast`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

if [[ -z "${TESSERA_SESSION_ROOT:-}" ]]; then
    exec "$root/scripts/session.sh" --no-notifications -- "$0" "$@"
fi

quick=${BENCH_QUICK:-0}
only=${BENCH_ONLY:-}
out="$root/bench/out"
work="$out/work"  # logs stay after the run, for a look when something fails
rm -rf "$work"
mkdir -p "$out" "$work"
results="$out/results.env"
: >"$results"
if [[ -n "$only" ]]; then report="$out/RESULTS-partial.md"
elif ((quick)); then report="$out/RESULTS-quick.md"
else report="$root/bench/RESULTS.md"; fi
started_at=$(date +%s)
# Whether a section runs (all of them unless BENCH_ONLY names some).
wants() { [[ -z "$only" || ",$only," == *",$1,"* ]]; }

# Sizes. The quick mode keeps every measurement but makes it small.
if ((quick)); then
    rounds=1 sequential_calls=2000 concurrent_calls=4000 hol_calls=200 coalescing_callers=200
    cli_rounds=2 cli_runs=20 footprint_calls=10000 logins=10 idle_seconds=5 activations=2
else
    rounds=3 sequential_calls=20000 concurrent_calls=20000 hol_calls=500 coalescing_callers=200
    cli_rounds=10 cli_runs=30 footprint_calls=100000 logins=50 idle_seconds=60 activations=5
fi
hol_delay=3

log() { printf 'bench: %s\n' "$*" >&2; }
fail() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }
record() { printf '%s=%s\n' "$1" "$2" >>"$results"; }

pids=()
cleanup() {
    local status=$?
    # A tesserad the bus activated is the bus's child, not ours: find it by its name.
    if [[ -n "${activated:-}" ]] && name_has_owner io.tessera.Agent1; then kill "$(owner_pid io.tessera.Agent1)" || true; fi
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.02; done
        kill -9 "$pid" 2>/dev/null || true
    done
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits until FILE has a line matching REGEX and prints the first such line.
wait_for_line() {
    local file=$1 regex=$2 seconds=${3:-20}
    for _ in $(seq $((seconds * 50))); do
        if grep -m1 -E "$regex" "$file" 2>/dev/null; then return 0; fi
        sleep 0.02
    done
    fail "timed out waiting for /$regex/ in $file"
}

bus_call() {
    dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus "org.freedesktop.DBus.$1" "${@:2}"
}
name_has_owner() { bus_call NameHasOwner "string:$1" 2>/dev/null | grep -q 'boolean true'; }
wait_for_name() {
    for _ in $(seq 500); do name_has_owner "$1" && return 0; sleep 0.02; done
    fail "$1 did not appear on the bus"
}
owner_pid() { bus_call GetConnectionUnixProcessID "string:$1" | awk '/uint32/ {print $2}'; }

# ---------------------------------------------------------------- build the parts
swift=${SWIFT:-$(command -v swift || echo /opt/swift/usr/bin/swift)}
# shellcheck disable=SC2086 # SWIFTFLAGS is a list of flags
bin=${BENCH_BIN:-$("$swift" build -c release ${SWIFTFLAGS:-} --show-bin-path)}
[[ -x "$bin/tesserad" && -x "$bin/tessera" ]] || fail "no release tesserad/tessera in $bin (run: make release)"

cflags=(-O2 -Wall -Wextra $(pkg-config --cflags dbus-1))
clibs=($(pkg-config --libs dbus-1) -pthread)
gcc "${cflags[@]}" -o "$out/callbench" "$root/bench/callbench.c" "${clibs[@]}"
# The floor is the D-Bus round-trip benchmark's plain C server (bench/dbus-roundtrip), replying inline.
floor_source="$root/bench/dbus-roundtrip/echo-server.c"
gcc "${cflags[@]}" -o "$out/floor-server" "$floor_source" "${clibs[@]}"

python=/usr/bin/python3
venv_python="$root/.venv/bin/python"
[[ -x "$venv_python" ]] || fail "no provider venv at $root/.venv (run: scripts/deps.sh)"

# ---------------------------------------------------------------- the machine
record date "$(date -u '+%Y-%m-%d %H:%M UTC')"
record machine.nproc "$(nproc)"
record machine.cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
record machine.kernel "$(uname -sr)"
record machine.loadavg "$(cut -d' ' -f1-3 /proc/loadavg)"
record version.swift "$("$swift" --version 2>/dev/null | head -1)"
record version.dbus "$(dbus-daemon --version | head -1)"
record version.oidc_agent "$(oidc-agent --version 2>&1 | head -1)"
record version.hyperfine "$(hyperfine --version)"
record version.tessera "$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)"
record mode "$([[ $quick == 1 ]] && echo quick || echo full)${only:+, only $only}"

# ---------------------------------------------------------------- the provider and a slow issuer
log "starting the test provider"
provider_db="$work/provider.sqlite"
"$venv_python" "$root/Tests/Provider/serve.py" --prepare "$provider_db" >/dev/null
DEVICE_FLOW_INTERVAL=1 "$venv_python" "$root/Tests/Provider/serve.py" --db "$provider_db" >"$work/provider.log" 2>&1 &
pids+=($!)
issuer=$(wait_for_line "$work/provider.log" '^issuer=' | cut -d= -f2-)

"$python" "$root/bench/slow_issuer.py" --upstream "$issuer" --delay "$hol_delay" >"$work/slow.log" 2>&1 &
pids+=($!)
slow_issuer=$(wait_for_line "$work/slow.log" '^issuer=' | cut -d= -f2-)

# Both agents use the same confidential device-flow client and log in as the same user.
client_id=tessera-device-confidential
export CLIENT_SECRET=device-confidential-secret
scopes="openid profile offline_access read"
refresh_count() { "$python" "$root/bench/oauth.py" refresh-count "$issuer"; }

# ---------------------------------------------------------------- oidc-agent 4.2.6
log "starting oidc-agent $(oidc-agent --version 2>&1 | head -1)"
agent_dir="$work/oidc-agent"
mkdir -p "$agent_dir"
chmod 700 "$agent_dir"
export OIDC_SOCK="$agent_dir/agent.sock"
oidc-agent --console --no-autoload --quiet -a "$OIDC_SOCK" \
    >"$work/oidc-agent.log" 2>&1 &
oidc_agent_pid=$!
pids+=($oidc_agent_pid)
for _ in $(seq 250); do [[ -S "$OIDC_SOCK" ]] && break; sleep 0.02; done
[[ -S "$OIDC_SOCK" ]] || fail "oidc-agent did not create its socket (see $work/oidc-agent.log)"

# oidc-gen imports an account from a refresh token, non-interactively: the encryption password
# from the environment, every prompt answered with its default, no browser. 4.2.6 takes the client
# secret only as an argument; it is the test provider's published test-client secret.
oidc_gen_account() {
    local name=$1 account_issuer=$2
    OIDC_REFRESH_TOKEN=$("$python" "$root/bench/oauth.py" device-refresh-token "$account_issuer" "$client_id") \
        OIDC_ENCRYPTION_PW=bench-encryption-password \
        oidc-gen "$name" --iss="$account_issuer/" --client-id="$client_id" --client-secret="$CLIENT_SECRET" \
        --scope="$scopes" --rt-env --pw-env --confirm-default --no-url-call --prompt=none \
        </dev/null >"$work/oidc-gen-$name.log" 2>&1 || fail "oidc-gen $name failed (see $work/oidc-gen-$name.log)"
}
oidc_gen_account fast "$issuer"
oidc_gen_account slow "$slow_issuer"
oidc-token fast >/dev/null || fail "oidc-token fast failed"

# ---------------------------------------------------------------- tesserad
start_tesserad() {
    "$bin/tesserad" >>"$work/tesserad.log" 2>&1 &
    tesserad_pid=$!
    pids+=($tesserad_pid)
    wait_for_name io.tessera.Agent1
}
stop_tesserad() {
    kill "$tesserad_pid"
    for _ in $(seq 250); do name_has_owner io.tessera.Agent1 || break; sleep 0.02; done
    wait "$tesserad_pid" 2>/dev/null || true
}
log "starting tesserad"
start_tesserad

tessera_account() {
    local name=$1 account_issuer=$2 client=${3:-$client_id} secret=${4:-$CLIENT_SECRET}
    printf '%s\n' "$secret" | "$bin/tessera" account add "$name" --issuer "$account_issuer" \
        --client-id "$client" --client-secret-stdin -s "$scopes" >>"$work/tessera-setup.log" 2>&1 ||
        fail "tessera account add $name failed (see $work/tessera-setup.log)"
}
tessera_device_login() {
    local name=$1 account_issuer=$2
    # The device flow, approved headlessly at the provider once the CLI shows the code.
    "$bin/tessera" login "$name" --no-qr --timeout 60 >"$work/login-$name.log" 2>&1 &
    local login=$!
    local code
    code=$(wait_for_line "$work/login-$name.log" 'enter the code: ' | sed 's/.*enter the code: *//')
    "$python" "$root/bench/oauth.py" approve "$account_issuer" "$code"
    wait "$login" || fail "tessera login $name failed (see $work/login-$name.log)"
}
# The password grant (the provider's seeded user and password client): a whole login in one
# process, fast enough to repeat 50 times for the memory figures.
password_login() {
    printf '%s\n' alice-password | "$bin/tessera" login "$1" --password --username alice >>"$work/password-logins.log" 2>&1
}
for name in fast slow coalesce; do
    account_issuer=$issuer
    [[ $name == slow ]] && account_issuer=$slow_issuer
    tessera_account "$name" "$account_issuer"
    tessera_device_login "$name" "$account_issuer"
done
tessera_account pw "$issuer" tessera-password password-client-secret
password_login pw || fail "the password login failed (see $work/password-logins.log)"
"$bin/tessera" token fast >/dev/null || fail "tessera token fast failed"

agent_call=(--dest io.tessera.Agent1 --path /io/tessera/Agent1 --iface io.tessera.Agent1 --method GetToken
    --expect-sig 'sxa{sv}')
ping_call=(--dest io.tessera.Agent1 --path /io/tessera/Agent1 --iface org.freedesktop.DBus.Peer --method Ping)
# The floor gets the same request as GetToken (s, a{sv}); it echoes the string.
floor_name=io.tessera.Bench.C
floor_call=(--dest "$floor_name" --path /io/tessera/Bench1 --iface io.tessera.Bench1 --method Echo --expect-sig s)

"$out/floor-server" "$floor_name" >"$work/floor.log" 2>&1 &
floor_pid=$!
pids+=($floor_pid)
wait_for_name "$floor_name"

if [[ -n "${BENCH_EXPLORE:-}" ]]; then
    log "set-up done; running $BENCH_EXPLORE"
    BIN=$bin bash -c "$BENCH_EXPLORE"
    exit
fi

# CPU time (user + system, all threads) a process spent, in microseconds: latency on this shared
# machine is noisy, the server's CPU per call much less so.
cpu_us() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) * 1000000 / hz}' "/proc/$1/stat"; }
# Runs callbench and appends the server's CPU microseconds per call to its line.
measure() {
    local server=$1 calls=$2 before line
    shift 2
    before=$(cpu_us "$server")
    line=$("$out/callbench" "$@" --calls "$calls") || true
    echo "$line server_cpu_us=$(awk -v a="$before" -v b="$(cpu_us "$server")" -v n="$calls" 'BEGIN {printf "%.1f", (b - a) / n}')"
}

# ---------------------------------------------------------------- 1+2: floor and GetToken, one client
# Alternating rounds, so a burst of load on this shared machine hits both sides alike.
if wants seq; then
    log "1-2: one client, $rounds x $sequential_calls calls each"
    for round in $(seq "$rounds"); do
        record "floor.seq.r$round" "$(measure "$floor_pid" "$sequential_calls" "${floor_call[@]}" --arg-string fast \
            --arg-options "" --warmup 200)"
        record "gettoken.seq.r$round" "$(measure "$tesserad_pid" "$sequential_calls" "${agent_call[@]}" --arg-string fast \
            --arg-options "" --warmup 200)"
    done
fi

# ---------------------------------------------------------------- 3: many clients
if wants clients; then
    for clients in 1 4 16 64; do
        log "3: $clients clients, $rounds x $concurrent_calls calls"
        for round in $(seq "$rounds"); do
            record "floor.c$clients.r$round" "$(measure "$floor_pid" "$concurrent_calls" "${floor_call[@]}" \
                --arg-string fast --arg-options "" --clients "$clients" --warmup 20)"
            record "gettoken.c$clients.r$round" "$(measure "$tesserad_pid" "$concurrent_calls" "${agent_call[@]}" \
                --arg-string fast --arg-options "" --clients "$clients" --warmup 20)"
        done
    done
fi

# ---------------------------------------------------------------- 4: head-of-line
if wants hol; then
    log "4: cached calls for 'fast' while 'slow' refreshes for ${hol_delay} s"
    record hol.unloaded "$("$out/callbench" "${agent_call[@]}" --arg-string fast --arg-options "" --calls "$hol_calls")"
    held_before=$(grep -c '^held' "$work/slow.log" || true)
    "$out/callbench" "${agent_call[@]}" --arg-string slow --arg-options "force=b:true" --calls 1 \
        >"$work/hol-slow.txt" 2>&1 &
    slow_call=$!
    wait_for_line "$work/slow.log" "^held" >/dev/null
    for _ in $(seq 250); do (($(grep -c '^held' "$work/slow.log") > held_before)) && break; sleep 0.02; done
    record hol.loaded "$("$out/callbench" "${agent_call[@]}" --arg-string fast --arg-options "" --calls "$hol_calls")"
    kill -0 "$slow_call" 2>/dev/null && record hol.overlap yes || record hol.overlap no
    wait "$slow_call" || log "the slow refresh failed: $(cat "$work/hol-slow.txt")"
    record hol.slow "$(cat "$work/hol-slow.txt")"

    # The same with oidc-agent: whole-process oidc-token, since that is its only client.
    held_before=$(grep -c '^held' "$work/slow.log" || true)
    oidc-token -f slow >/dev/null 2>&1 &
    slow_call=$!
    for _ in $(seq 250); do (($(grep -c '^held' "$work/slow.log") > held_before)) && break; sleep 0.02; done
    started=$(date +%s%N)
    oidc-token fast >/dev/null
    record hol.oidc_agent_ms "$((($(date +%s%N) - started) / 1000000))"
    wait "$slow_call" || true
fi

# ---------------------------------------------------------------- 5: coalescing
# A token counts as expired when it has less than min-valid seconds left. With the provider's
# 3600 s lifetime and min-valid 3597, a fresh token is good for 3 s; after 4 s all callers find it
# expired at once, and one refresh must serve them all.
if wants coalesce; then
    log "5: $coalescing_callers callers on one expired token"
    min_valid=3597
    "$out/callbench" "${agent_call[@]}" --arg-string coalesce --arg-options "min-valid=u:$min_valid" --calls 1 \
        >/dev/null || fail "priming the coalescing account failed"
    sleep 4
    refreshes_before=$(refresh_count)
    record coalesce.run "$("$out/callbench" "${agent_call[@]}" --arg-string coalesce \
        --arg-options "min-valid=u:$min_valid" --clients "$coalescing_callers" --calls "$coalescing_callers" 2>&1 | tail -1)"
    record coalesce.refreshes "$(($(refresh_count) - refreshes_before))"
fi

# ---------------------------------------------------------------- 6: CLI, whole process
# Many short rounds of hyperfine over all four commands, so a burst of load on this shared
# machine hits each of them alike; the report pools the rounds' times.
if wants cli; then
    log "6: tessera vs oidc-token, $cli_rounds x $cli_runs runs each"
    # Both sides' files leave the page cache first and come back through readahead at the warm-up,
    # as after a reboot: a file the linker has just written maps measurably faster or slower than
    # one read back (bench/PROFILE.md), and oidc-token's were read long ago.
    oidc_token=$(command -v oidc-token)
    "$python" - "$bin/tessera" "$oidc_token" $(ldd "$oidc_token" | awk '$3 ~ /^\// {print $3}') <<'PY'
import os, sys
for path in sys.argv[1:]:
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
PY
    for round in $(seq "$cli_rounds"); do
        hyperfine --shell=none --warmup 3 --runs "$cli_runs" --export-json "$out/cli.r$round.json" \
            --command-name "tessera token fast" "$bin/tessera token fast" \
            --command-name "oidc-token fast" "oidc-token fast" \
            --command-name "tessera --version" "$bin/tessera --version" \
            --command-name "oidc-token --version" "oidc-token --version" >"$work/hyperfine.r$round.txt" 2>&1 ||
            fail "hyperfine failed (see $work/hyperfine.r$round.txt)"
        record "cli.json.r$round" "$out/cli.r$round.json"
    done
    # What the CLI is: static or not, its size, the system calls and page faults of one `token`.
    if readelf -lW "$bin/tessera" | grep -q INTERP; then
        record cli.linkage "dynamic, $(ldd "$bin/tessera" | wc -l) shared libraries"
    else
        record cli.linkage "static"
    fi
    record cli.size_bytes "$(stat -c %s "$bin/tessera")"
    strace -f -c -o "$work/cli-strace.txt" "$bin/tessera" token fast >/dev/null 2>&1 || true
    strace -f -c -o "$work/oidc-strace.txt" oidc-token fast >/dev/null 2>&1 || true
    record cli.syscalls "$(awk '/total/ {print $4}' "$work/cli-strace.txt")"
    record oidc_token.syscalls "$(awk '/total/ {print $4}' "$work/oidc-strace.txt")"
    cp "$work/cli-strace.txt" "$out/cli-strace.txt"
    page_faults() { perf stat -x, -e page-faults "$@" 2>&1 >/dev/null | awk -F, '/page-faults/ {print $1}' || true; }
    record cli.page_faults "$(page_faults "$bin/tessera" token fast)"
    record oidc_token.page_faults "$(page_faults oidc-token fast)"
fi

# ---------------------------------------------------------------- 7: memory
# Resident (RSS) and proportional (PSS: shared pages divided among the processes mapping them)
# set sizes in KiB, and the thread count, from the kernel's own summary.
memory() {
    awk '/^Rss:/ {rss = $2} /^Pss:/ {pss = $2} END {printf "rss_kb=%d pss_kb=%d", rss, pss}' "/proc/$1/smaps_rollup"
    printf ' threads=%d\n' "$(ls "/proc/$1/task" | wc -l)"
}
if wants memory; then
    # A fresh tesserad: the accounts come from the keyring, as after a log-in.
    log "7: memory: a fresh tesserad, $footprint_calls cached calls, $logins password logins"
    stop_tesserad
    start_tesserad
    "$out/callbench" "${ping_call[@]}" --calls 1 >/dev/null || fail "the fresh tesserad did not answer Ping"
    record memory.start "$(memory "$tesserad_pid")"
    # The first token call of a fresh process reads the keyring and refreshes (libsecret and
    # libcurl are loaded then): growth under load is measured from after that warm-up, so one-time
    # loading is not mistaken for a per-call leak.
    "$out/callbench" "${agent_call[@]}" --arg-string fast --arg-options "" --calls 1000 >/dev/null \
        || fail "the fresh tesserad did not answer GetToken"
    record memory.warm "$(memory "$tesserad_pid")"
    record memory.calls "$("$out/callbench" "${agent_call[@]}" --arg-string fast --arg-options "" --clients 4 \
        --calls "$footprint_calls")"
    record memory.after_calls "$(memory "$tesserad_pid")"
    login_failures=0
    login_started=$(date +%s%N)
    for _ in $(seq "$logins"); do password_login pw || login_failures=$((login_failures + 1)); done
    record memory.logins "logins=$logins failures=$login_failures seconds=$(awk -v ns=$(($(date +%s%N) - login_started)) 'BEGIN {printf "%.1f", ns / 1e9}')"
    record memory.after_logins "$(memory "$tesserad_pid")"
    # The release link lays out the functions in this list together (Package.swift): how many of
    # its names the binary still has, since a list gone stale lays out less well.
    order_file="$root/Sources/tesserad/hot-functions.order"
    if [[ -f "$order_file" ]]; then
        record memory.ordering "listed=$(wc -l <"$order_file") found=$(nm --defined-only "$bin/tesserad" |
            awk 'NR == FNR {wanted[$1]; next} ($3 in wanted) {print $3}' "$order_file" - | sort -u | wc -l)"
    fi
    # oidc-agent next to it (it forks: the daemon is the child of the process we started).
    oidc_daemon=$(cat /proc/"$oidc_agent_pid"/task/*/children 2>/dev/null | awk '{print $1}')
    if [[ -n "$oidc_daemon" ]]; then record memory.oidc_agent "$(memory "$oidc_daemon")"; fi
fi

# ---------------------------------------------------------------- 8: idle
# Context switches per thread ("tid name count" lines): each one is a wake-up of that thread.
thread_switches() {
    local task
    for task in $(printf '/proc/%s/task/* ' "$@"); do
        printf '%s %s %s\n' "${task##*/}" "$(tr -c '[:alnum:]._\n-' _ <"$task/comm")" \
            "$(awk '/ctxt_switches/ {n += $2} END {print n}' "$task/status")"
    done
}
# Wake-ups between two thread_switches snapshots, in total and by thread name.
wakeups() {
    LC_ALL=C join <(LC_ALL=C sort <<<"$1") <(LC_ALL=C sort <<<"$2") | awk '{d = $5 - $3; total += d; if (d) by[$2] += d}
        END {printf "%d", total; for (n in by) printf " %s:%d", n, by[n]; print ""}'
}
if wants idle; then
    log "8: ${idle_seconds} s idle"
    sleep 1
    # oidc-agent idles next to it, for comparison.
    oidc_agent_pids=("$oidc_agent_pid" $(cat /proc/"$oidc_agent_pid"/task/*/children))
    cpu_before=$(cpu_us "$tesserad_pid") threads_before=$(thread_switches "$tesserad_pid")
    oidc_before=$(thread_switches "${oidc_agent_pids[@]}")
    sleep "$idle_seconds"
    record idle.seconds "$idle_seconds"
    record idle.cpu_ms "$(awk -v a="$cpu_before" -v b="$(cpu_us "$tesserad_pid")" 'BEGIN {printf "%.0f", (b - a) / 1000}')"
    record idle.wakeups "$(wakeups "$threads_before" "$(thread_switches "$tesserad_pid")")"
    record idle.oidc_agent_wakeups "$(wakeups "$oidc_before" "$(thread_switches "${oidc_agent_pids[@]}")")"
    record idle.threads "$(ls /proc/"$tesserad_pid"/task | wc -l)"
fi

# ---------------------------------------------------------------- 9: cold D-Bus activation
# The bus starts tesserad on the first call to its name.
if wants activation; then
    log "9: cold activation, $activations times"
    stop_tesserad
    services="$XDG_DATA_HOME/dbus-1/services"
    mkdir -p "$services"
    sed "s|^Exec=.*|Exec=$bin/tesserad|; /^SystemdService=/d" "$root/dbus/io.tessera.Agent1.service" \
        >"$services/io.tessera.Agent1.service"
    bus_call ReloadConfig >/dev/null
    activated=1
    stop_activated() {
        kill "$(owner_pid io.tessera.Agent1)"
        for _ in $(seq 250); do name_has_owner io.tessera.Agent1 || break; sleep 0.02; done
    }
    for round in $(seq "$activations"); do
        record "activation.ping.r$round" "$("$out/callbench" "${ping_call[@]}" --calls 1)"
        stop_activated
        record "activation.gettoken.r$round" "$("$out/callbench" "${agent_call[@]}" --arg-string fast --arg-options "" \
            --calls 1)"
        stop_activated
    done
fi

# ---------------------------------------------------------------- the table
record duration_s "$(($(date +%s) - started_at))"
"$python" "$root/bench/report.py" "$results" "$report" >/dev/null
log "wrote ${report#"$root"/} ($(($(date +%s) - started_at)) s)"
