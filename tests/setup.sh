#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian 12 machine, only what is missing:
# apt packages (as root), the Python venv of the emulator, the JS SDK packages (tests/node/),
# and rustfmt/clippy.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v nc >/dev/null || need+=(netcat-openbsd)
command -v systemd-socket-activate >/dev/null || need+=(systemd)
command -v curl >/dev/null || need+=(curl)
# libfaketime moves the wall clock of the emulator and the daemon in tests/clock.rs.
[ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1 ] || need+=(faketime)
# libfuzzer-sys compiles libFuzzer's C++ sources for the fuzz targets.
command -v c++ >/dev/null || need+=(g++)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
# The AWS SDK for JavaScript v3 (tests/node/): the one-secret-file test drives it.
command -v npm >/dev/null || need+=(nodejs npm)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "tests/setup.sh: missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
    exit 1
  fi
  echo "tests/setup.sh: installing ${need[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

bash tests/emulator/setup-venv.sh
bash tests/node/setup.sh
