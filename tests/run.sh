#!/usr/bin/env bash
# The whole test suite, from a fresh clone: sets up what is missing, checks formatting and lints,
# then runs every test (unit tests, and integration tests against the strict Cognito emulator).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --all-targets --no-fail-fast -- "$@"
# The benchmark in its short mode, so it cannot rot: it reports figures, it asserts no timing.
cargo bench --locked --profile dev --bench load -- --quick
# The fleet simulation in its short mode: every scenario at 1,000 and 10,000 hosts (reports only).
cargo bench --locked --profile dev --bench fleet -- --quick
# Every fuzz target for a bounded time (FUZZ_SECONDS, default 60 each); fails on a crash.
bash fuzz/run.sh
