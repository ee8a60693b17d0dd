#!/usr/bin/env bash
# Takes the figures of BENCHMARKS.md.
#
#   bash benches/run.sh                 # every figure but the profile (about 10 minutes, builds included)
#   bash benches/run.sh --only startup  # one figure (load, startup, upstream, get, size, secret-timing)
#   bash benches/run.sh --quick         # every figure, a few seconds each
#   bash benches/run.sh callgrind       # instructions per request under callgrind
#
# The daemon measured is the packaged binary (`cargo build --release`: LTO, one codegen unit,
# stripped), copied aside so that a rebuild by someone else mid-run changes nothing. The bench
# itself is built in target/bench with symbols (the profile needs them), so it never replaces
# target/release/cognitod, which `cargo bench` would otherwise do with a variant carrying the
# dev-dependencies' features.
#
# The machine is shared: the script waits up to BENCH_WAIT seconds (default 600) for a load
# average below BENCH_MAX_LOAD (default 1.0), then measures anyway; the report says the load.
# The report goes to target/bench/report.md (or target/bench/callgrind.md).
set -euo pipefail
cd "$(dirname "$0")/.."

export COGNITOD_VENV=${COGNITOD_VENV:-$PWD/.venv}
export CARGO_TARGET_DIR=$PWD/target/bench
export CARGO_PROFILE_BENCH_STRIP=false CARGO_PROFILE_BENCH_DEBUG=line-tables-only
mkdir -p "$CARGO_TARGET_DIR"

wait_for_quiet() {
    local max=${BENCH_MAX_LOAD:-1.0} waited=0 limit=${BENCH_WAIT:-600}
    while :; do
        local load
        load=$(cut -d' ' -f1 /proc/loadavg)
        if awk -v l="$load" -v m="$max" 'BEGIN { exit !(l < m) }'; then
            echo "load average $load: measuring" >&2
            return
        fi
        if ((waited >= limit)); then
            echo "load average still $load after ${limit}s: measuring anyway (the report says so)" >&2
            return
        fi
        sleep 10
        waited=$((waited + 10))
    done
}

if [[ ${1:-} == callgrind ]]; then
    shift
    command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install valgrind" >&2; exit 1; }
    # The profile counts instructions, so the load does not matter; the daemon is the one cargo
    # builds beside the bench (release settings, with symbols).
    cargo bench --locked --bench load -- --only callgrind --out "$CARGO_TARGET_DIR/callgrind.md" "$@"
    exit
fi

# The packaged binary; the shared target directory, so usually already built.
CARGO_TARGET_DIR=$PWD/target cargo build --locked --release
install -m 0755 target/release/cognitod "$CARGO_TARGET_DIR/cognitod"
cargo bench --locked --bench load --no-run
wait_for_quiet
cargo bench --locked --bench load -- --cognitod "$CARGO_TARGET_DIR/cognitod" \
    --out "$CARGO_TARGET_DIR/report.md" "$@"
