#!/usr/bin/env bash
# The whole test suite, from a fresh clone: sets up what is missing, checks formatting and lints,
# then runs every test (unit tests, and integration tests against the strict Cognito emulator).
#
#   bash tests/run.sh                  everything, as CI runs it
#   bash tests/run.sh TIER [ARGS...]   one tier alone; ARGS go to the test binaries (a name
#                                      filter, --nocapture, --test-threads 1)
#
# The tiers, by what each needs besides cargo (README.md, "Development"):
#   unit      nothing: the library's and the binary's unit tests, the fuzz regressions, and the
#             benches' test mode (which only says how to run them)
#   emulator  the emulator's venv (made on first use from PyPI) and the tools tests/setup.sh
#             installs; root for the few that read another process's memory or change owners
#   systemd   root and systemd-nspawn: units checked by systemd-analyze, a real systemd booted in
#             a container
#   packages  root, systemd-nspawn and the packaging tools: the .deb and .rpm built, installed,
#             upgraded and purged in a container
# Every test file not named in another tier is an emulator test, so a new one runs somewhere.
set -euo pipefail
cd "$(dirname "$0")/.."

unit=(--lib --bins --benches --test fuzz_regressions)
systemd=(--test install --test e2e_systemd --test e2e_hardening --test systemd_box_selftest)
packages=(--test packages)
emulator=()
for file in tests/*.rs; do
  name=$(basename "$file" .rs)
  case " ${unit[*]} ${systemd[*]} ${packages[*]} " in
    *" $name "*) ;;
    *) emulator+=(--test "$name") ;;
  esac
done

tier=${1:-all}
case "$tier" in
  unit | emulator | systemd | packages) shift ;;
  *) tier=all ;;
esac

if [ "$tier" != all ]; then
  [ "$tier" = unit ] || bash tests/setup.sh
  declare -n targets="$tier"
  exec cargo test --locked --no-fail-fast "${targets[@]}" -- "$@"
fi

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
