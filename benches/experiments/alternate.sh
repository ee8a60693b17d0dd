#!/usr/bin/env bash
# Alternates release binaries of cognitod in one load series at 64 clients, so that the noise of a
# shared machine falls on all of them alike (BENCHMARKS.md, "The wall-clock check on the request
# path"). Build the binaries first (e.g. `git worktree add` each commit, `cargo build --release`).
#
#   bash benches/experiments/alternate.sh ROUNDS NAME=BINARY...
#   bash benches/experiments/alternate.sh 2 old=/tmp/cognitod-be8c685 clock=/tmp/cognitod-a614680
set -euo pipefail
cd "$(dirname "$0")/../.."
export COGNITOD_VENV=${COGNITOD_VENV:-$PWD/.venv}
rounds=$1
shift
CARGO_TARGET_DIR=$PWD/target/bench cargo bench --locked --bench load --no-run
load=$(ls -t target/bench/release/deps/load-* | grep -v '\.d$' | head -1)
for round in $(seq "$rounds"); do
    for pair in "$@"; do
        echo "=== ${pair%%=*} round $round $(date -u +%T) load $(cut -d' ' -f1 /proc/loadavg)"
        "$load" --bench --only load --clients 64 --cognitod "${pair#*=}" | grep -E '^\| (unix|tcp|http) '
    done
done
