#!/usr/bin/env bash
# Try cognitod without an AWS account: starts the local Cognito emulator, seeds a user pool, an app
# client, a user and an identity pool, and runs cognitod against them on a unix socket.
#   bash tests/demo.sh            then paste the block it prints into another terminal.
# Ctrl-C stops everything. COGNITOD_DEMO_SOCKET changes the socket; COGNITOD_DEMO_BIN runs that
# binary instead of building one (the test of this script, tests/demo.rs, uses it).
set -euo pipefail
cd "$(dirname "$0")/.."
socket=${COGNITOD_DEMO_SOCKET:-/tmp/cognitod-demo.sock}
venv=${COGNITOD_VENV:-$PWD/.venv}

# The emulator's venv and the daemon's first build take about as long as each other: side by side.
bash tests/emulator/setup-venv.sh &
venv_pid=$!
bin=${COGNITOD_DEMO_BIN:-}
if [ -z "$bin" ]; then
  cargo build --quiet --bin cognitod
  bin=$PWD/target/debug/cognitod
fi
wait "$venv_pid"

workdir=$(mktemp -d)
cleanup() { kill "$emulator_pid" 2>/dev/null || true; rm -rf "$workdir"; }
trap cleanup EXIT

"$venv/bin/python" tests/emulator/server.py --port 0 >"$workdir/port" &
emulator_pid=$!
for _ in $(seq 100); do [ -s "$workdir/port" ] && break; sleep 0.1; done
port=$("$venv/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$workdir/port")
endpoint=http://127.0.0.1:$port

password="Demo-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')!"
"$venv/bin/python" tests/emulator/seed.py --endpoint "$endpoint" --username demo --password "$password" >"$workdir/pool.json"
read_pool() { "$venv/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$workdir/pool.json" "$1"; }

export AWS_ENDPOINT_URL=$endpoint
export COGNITO_USERNAME=demo COGNITO_PASSWORD=$password
COGNITO_USER_POOL_ID=$(read_pool user_pool_id); export COGNITO_USER_POOL_ID
COGNITO_APP_ID=$(read_pool client_id); export COGNITO_APP_ID
COGNITO_IDENTITY_POOL_ID=$(read_pool identity_pool_id); export COGNITO_IDENTITY_POOL_ID
export COGNITO_REGION=us-east-1

# The AWS CLI takes its credentials from `cognitod get` through a profile of its own.
printf '[default]\nregion = us-east-1\ncredential_process = %s get --socket %s\n' "$bin" "$socket" >"$workdir/aws-config"

echo "emulator on $endpoint; user pool $COGNITO_USER_POOL_ID" >&2
cat <<EOF
----- cognitod demo: paste this into another terminal -----
export PATH="${bin%/*}:\$PATH"   # cognitod itself; to keep it: cargo install --path . (README)
cognitod get --socket $socket
nc -U $socket   # needs netcat-openbsd: apt install netcat-openbsd
export AWS_CONFIG_FILE=$workdir/aws-config AWS_ENDPOINT_URL=$endpoint   # region: in that file
$venv/bin/aws sts get-caller-identity   # any AWS CLI; this one came with the emulator's venv
----- end of block -----
EOF
"$bin" serve -e -s unix -S "$socket" --permissions 0600
