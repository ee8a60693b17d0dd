#!/usr/bin/env bash
# Fuzzes every parser of cognitod that takes outside input (fuzz/fuzz_targets/, one target each),
# each for a bounded time, one after the other, and fails if any target crashed (a panic, a failed
# check, a hang past -timeout, or memory past -rss_limit_mb). Prints executions and exec/s per
# target. CI runs it as:
#
#     bash fuzz/run.sh
#
# Settings (environment):
#   FUZZ_SECONDS    seconds per target (default 60)
#   FUZZ_SANITIZER  cargo fuzz's --sanitizer: none (default) or address. The daemon's own code
#                   has no unsafe (#![deny(unsafe_code)]), so what fuzzing finds there is panics,
#                   failed checks, hangs and memory growth, which need no sanitizer; "none" runs
#                   about twice as fast. "address" also checks the unsafe code of the dependencies.
#   FUZZ_ARGS       extra libFuzzer flags for every target (e.g. "-verbosity=2").
# Arguments: target names to run only those (default: all, from `cargo fuzz list`).
#
# Stable toolchain: cargo fuzz's instrumentation flags (-Cpasses=sancov-module, -Cllvm-args=...,
# --cfg fuzzing) are all stable, so the default `-s none` builds with a stable rustc as it is. A
# sanitizer (`-s address`, cargo fuzz's own default) adds -Zsanitizer=..., which a stable rustc
# refuses unless RUSTC_BOOTSTRAP=1: this script sets it then, and only then (for the fuzz build
# alone, never the daemon's), because it also changes what some build scripts detect
# (proc-macro2's, for one), so switching it rebuilds every dependency.
#
# Corpora: fuzz/corpus/<target>/ holds the committed seeds, read but never written; what a run
# finds goes to fuzz/target/corpus/<target>/ (not committed). To keep new finds, copy them into
# corpus/<target>/ and minimise it (from fuzz/): cargo fuzz cmin -s none -a <target>
# A crash is saved under fuzz/artifacts/<target>/; the summary prints the command that replays it.
set -euo pipefail
cd "$(dirname "$0")"

seconds=${FUZZ_SECONDS:-60}
sanitizer=${FUZZ_SANITIZER:-none}
if [ "$sanitizer" != none ]; then
    export RUSTC_BOOTSTRAP=1
fi
read -r -a extra <<<"${FUZZ_ARGS:-}"

if ! command -v cargo-fuzz >/dev/null; then
    cargo install --locked cargo-fuzz@0.13.2
fi

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

# Longest input per target: the raw protocol and HTTP get room past their 1 KiB secret line,
# 8 KiB header and 16 KiB linger limits; the others stay at libFuzzer's usual 4 KiB.
max_len() {
    case "$1" in
        raw_protocol | http_request) echo 20000 ;;
        *) echo 4096 ;;
    esac
}

# Flags for one target. cognito_responses: a USER_SRP_AUTH sign-in costs ~0.2 s here (two 3072-bit
# exponentiations, instrumented), a password one under 1 ms; weighting inputs by their speed keeps
# the SRP seeds from eating the minute (2000 exec/s instead of 90).
target_flags() {
    case "$1" in
        cognito_responses) echo -entropic_scale_per_exec_time=1 ;;
    esac
}

# -a: debug assertions and overflow checks on, so an arithmetic overflow is a crash.
build=(-s "$sanitizer" -a)
echo "building ${#targets[@]} fuzz targets (sanitizer $sanitizer)"
cargo fuzz build "${build[@]}"

logs=target/fuzz-logs
mkdir -p "$logs"
failed=()
summary=()
for target in "${targets[@]}"; do
    mkdir -p "target/corpus/$target" "corpus/$target"
    echo "=== $target: ${seconds}s"
    read -r -a flags <<<"$(target_flags "$target")"
    if [ -f "dict/$target.dict" ]; then
        flags+=(-dict="dict/$target.dict")
    fi
    status=0
    cargo fuzz run "${build[@]}" "$target" "target/corpus/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$target")" \
        -print_final_stats=1 "${flags[@]}" "${extra[@]}" >"$logs/$target.log" 2>&1 || status=$?
    tail -n 15 "$logs/$target.log"
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$target.log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$target.log" | tail -n 1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$logs/$target.log" | tail -n 1)
    if [ "$status" -ne 0 ]; then
        failed+=("$target")
        line="$target: CRASHED (exit $status) after ${runs:-?} runs"
        for artifact in artifacts/"$target"/*; do
            [ -e "$artifact" ] || continue
            line+=$'\n'"    replay: (cd fuzz && cargo fuzz run ${build[*]} $target $artifact)"
        done
    else
        line="$target: ${runs:-?} runs in ${seconds}s, ${rate:-?} exec/s, peak RSS ${rss:-?} MB"
    fi
    summary+=("$line")
done

echo
echo "=== fuzzing summary"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing found crashes in: ${failed[*]} (logs in fuzz/$logs/)" >&2
    exit 1
fi
