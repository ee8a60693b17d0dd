#!/usr/bin/env bash
# The newcomer's figure: seconds from `git clone` to credentials from `nc -U`, with the demo
# (tests/demo.sh) as README.md gives it. Crates are downloaded into a fresh CARGO_HOME and pip
# uses no cache, as on a machine that never built cognitod; the clone is of this repository.
#   bash benches/clone-to-credentials.sh      (prints the seconds; leaves /tmp/cognitod-clone)
set -u
repo="$(cd "$(dirname "$0")/.." && pwd)"
work=/tmp/cognitod-clone
socket=/tmp/cognitod-demo.sock
rm -rf "$work" "$work-cargo-home" "$socket"
mkdir -p "$work-cargo-home"
export CARGO_HOME="$work-cargo-home" PIP_NO_CACHE_DIR=1 COGNITOD_DEMO_SOCKET="$socket"
unset COGNITOD_VENV
start=$(date +%s.%N)
git clone -q "$repo" "$work"
cd "$work"
bash tests/demo.sh >"$work/demo.log" 2>&1 &
demo=$!
while sleep 0.5; do
    if answer=$(nc -U "$socket" 2>/dev/null) && [[ $answer == *AccessKeyId* ]]; then
        end=$(date +%s.%N)
        break
    fi
    kill -0 "$demo" 2>/dev/null || { echo "the demo stopped:" >&2; tail "$work/demo.log" >&2; exit 1; }
done
echo "clone to credentials: $(python3 -c "print(round($end - $start, 1))") s (load average $(cut -d' ' -f1-3 /proc/loadavg))"
# The demo's cognitod runs in the foreground of tests/demo.sh, whose exit trap stops the emulator.
pkill -f "target/debug/cognitod serve -e -s unix -S $socket"
wait "$demo"
