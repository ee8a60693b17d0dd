#!/bin/sh
# Makes sure the host can boot a systemd box (systemd-nspawn, debootstrap) and that the cached
# Debian root file system the boxes boot from exists and matches the recipe below.
#
# The root is only ever read: every box boots it with --volatile=overlay, so one cached root serves
# any number of parallel boxes. It is rebuilt only when the recipe (suite, variant, packages, the
# post-install steps' version) changes; its hash is stored inside the root. Quiet on the fast path.
#
#   COGNITOD_BOX_ROOT    where the root lives (default /var/cache/cognitod-test/bookworm-root)
#   COGNITOD_BOX_MIRROR  Debian mirror (default http://deb.debian.org/debian)
set -eu

ROOT=${COGNITOD_BOX_ROOT:-/var/cache/cognitod-test/bookworm-root}
MIRROR=${COGNITOD_BOX_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
VARIANT=minbase
# Whatever tests need inside goes in here: nothing is installed at test time (the box has no
# resolver, and tests should not depend on a mirror).
# adduser/passwd: a .deb's maintainer scripts create system users; man-db: dpkg triggers for man
# pages; iproute2: `ss` to see what listens; less: journalctl/systemctl pagers when debugging.
PACKAGES=systemd,systemd-sysv,dbus,netcat-openbsd,curl,man-db,ca-certificates,procps,util-linux,python3,adduser,passwd,less,iproute2
# Bump when the steps after debootstrap change.
POST_VERSION=1
RECIPE="$SUITE $VARIANT $PACKAGES post=$POST_VERSION"
HASH=$(printf '%s\n' "$RECIPE" | sha256sum | cut -d' ' -f1)
STAMP=.cognitod-box-recipe

have_host_tools() { command -v systemd-nspawn >/dev/null && command -v debootstrap >/dev/null; }
root_is_current() { [ "$(cat "$ROOT/$STAMP" 2>/dev/null)" = "$HASH" ]; }

# Fast path, no lock: nothing to do.
if have_host_tools && root_is_current; then exit 0; fi

PARENT=$(dirname "$ROOT")
NAME=$(basename "$ROOT")
mkdir -p "$PARENT"
# One builder at a time; the others wait here and then find the work done.
exec 9>"$PARENT/.$NAME.lock"
flock 9

if ! have_host_tools; then
    echo "prepare-root: installing systemd-container debootstrap on the host" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt_install() { apt-get install -y -q -o Dpkg::Use-Pty=0 systemd-container debootstrap >"$PARENT/.apt.log" 2>&1; }
    # Stale package lists are the usual reason an install fails: refresh once and retry.
    apt_install || { apt-get update -q >>"$PARENT/.apt.log" 2>&1 && apt_install; } || {
        cat "$PARENT/.apt.log" >&2; exit 1; }
fi

if root_is_current; then exit 0; fi

echo "prepare-root: building $ROOT (debootstrap $SUITE, about a minute)" >&2
# Leftovers of a build that was killed (we hold the lock: nobody else is building). With
# --one-file-system, so that a /proc or /sys debootstrap left mounted in there is not descended into.
rm -rf --one-file-system "$PARENT/.$NAME.build."* "$PARENT/.$NAME.old."*
TMP=$(mktemp -d "$PARENT/.$NAME.build.XXXXXX")   # same file system as ROOT, so rename is atomic
trap 'rm -rf --one-file-system "$TMP" "$TMP.log"' EXIT
trap 'exit 1' INT TERM HUP   # so that the EXIT trap cleans up on Ctrl-C too
chmod 755 "$TMP"   # mktemp made it 0700: the box's / must be traversable by its unprivileged users
if ! debootstrap --variant="$VARIANT" --include="$PACKAGES" "$SUITE" "$TMP" "$MIRROR" \
        >"$TMP.log" 2>&1; then
    tail -n 40 "$TMP.log" >&2
    # debootstrap's own log names the failing package
    tail -n 20 "$TMP/debootstrap/debootstrap.log" >&2 2>/dev/null || true
    exit 1
fi
rm -f "$TMP.log"
# Copied from the host by debootstrap: let nspawn set the hostname (the machine name), and the box
# shares the host's network namespace (started with --resolv-conf=off), so no resolver config.
rm -f "$TMP/etc/hostname" "$TMP/etc/resolv.conf"
# Empty machine-id: systemd then derives a transient one per boot from nspawn's random UUID, so
# parallel boxes do not share an identity.
: >"$TMP/etc/machine-id"
rm -f "$TMP/var/lib/dbus/machine-id"
printf '%s\n' "$HASH" >"$TMP/$STAMP"

# rename(2) cannot replace a non-empty directory: move a stale root aside first (only happens when
# the recipe changed), then move the new one in and delete the old.
if [ -e "$ROOT" ]; then
    OLD="$PARENT/.$NAME.old.$$"
    mv "$ROOT" "$OLD"
fi
mv "$TMP" "$ROOT"
trap - EXIT
if [ -n "${OLD:-}" ]; then rm -rf --one-file-system "$OLD"; fi
