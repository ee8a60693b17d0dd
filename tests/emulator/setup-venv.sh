#!/usr/bin/env bash
# Make sure the Python venv of the test emulator exists and matches requirements.txt.
#
#   tests/emulator/setup-venv.sh        venv at ${COGNITOD_VENV:-<repo>/.venv}
#
# Idempotent and quiet: when the venv is there and was built from this requirements.txt (its
# sha256 is kept inside the venv) it prints nothing and returns at once. Otherwise it rebuilds the
# venv from scratch, under flock, so that test processes starting together build it once.
# Progress goes to stderr; stdout stays empty.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${COGNITOD_VENV:-$repo/.venv}"
requirements="$here/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"

up_to_date() {
    [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]
}

up_to_date && exit 0

# The lock lives outside the venv (which may be deleted) and outside the work tree (no stray
# file for git); one lock per venv path.
lock="${TMPDIR:-/tmp}/cognitod-venv-$(printf '%s' "$venv" | sha256sum | cut -c1-16).lock"
exec 9>"$lock"
flock 9

# Another process may have built it while this one waited for the lock.
up_to_date && exit 0

echo "setup-venv: building $venv from $requirements" >&2
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    -r "$requirements" >&2
# Written last: an interrupted build leaves no stamp and is redone next time.
printf '%s\n' "$want" >"$stamp.tmp"
mv "$stamp.tmp" "$stamp"
echo "setup-venv: ready" >&2
