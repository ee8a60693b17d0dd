#!/usr/bin/env bash
# Installs the AWS SDK for JavaScript v3 packages the tests drive (pinned in package-lock.json)
# into tests/node/node_modules, when they are missing or the lock file changed. Needs node and npm
# (Debian: apt install nodejs npm; tests/setup.sh installs them).
set -euo pipefail
cd "$(dirname "$0")"
stamp=node_modules/.installed-lock
if [ -f "$stamp" ] && cmp -s package-lock.json "$stamp"; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error >&2
cp package-lock.json "$stamp"
echo "tests/node/setup.sh: installed the JS SDK packages" >&2
