#!/bin/sh
# Builds the .deb from a fresh clone on Debian 12 (root, Rust): `bash debian/build.sh` ->
# target/debian/cognitod_<version>-1_<arch>.deb, checked with lintian (fails on any error or
# warning that debian/cognitod.lintian-overrides does not explain). Installs what is missing.
# Arguments go to cargo-deb, e.g. `--deb-version 0.1.0-2 -o target/debian-next/` (no lintian
# then: the changelog names the real version only).
set -eu
cd "$(dirname "$0")/.."
# One packaging at a time per checkout: the staging area target/package/ is shared.
mkdir -p target
exec 9>target/.packaging.lock
flock 9

missing=""
command -v dpkg-shlibdeps >/dev/null || missing="$missing dpkg-dev" # cargo-deb's $auto depends
command -v lintian >/dev/null || missing="$missing lintian"
command -v man >/dev/null || missing="$missing man-db"            # tests/packages.rs renders the man pages
command -v python3 >/dev/null || missing="$missing python3"         # debian/stage.sh
if [ -n "$missing" ]; then
    echo "debian/build.sh: installing$missing" >&2
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null
fi
command -v cargo-deb >/dev/null || cargo install --locked cargo-deb@3.8.0

sh debian/stage.sh

# Every file dated by the last changelog entry (cargo-deb and dpkg-deb both clamp to it): the
# same sources give the same package, byte for byte.
SOURCE_DATE_EPOCH=$(dpkg-parsechangelog -l debian/changelog -S Timestamp)
export SOURCE_DATE_EPOCH
deb=$(cargo deb --no-build "$@")

# Two things cargo-deb does not do, done on its package: /etc/cognitod is 0750 (configurations
# with passwords go there; cargo-deb makes every directory 0755), and DEBIAN/md5sums, which
# `dpkg --verify` and debsums check installed files against.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dpkg-deb --raw-extract "$deb" "$tmp/pkg"
chmod 0750 "$tmp/pkg/etc/cognitod"
(cd "$tmp/pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
    xargs -0 md5sum >DEBIAN/md5sums)
chmod 0644 "$tmp/pkg/DEBIAN/md5sums"
dpkg-deb --root-owner-group -Zxz --build "$tmp/pkg" "$deb" >/dev/null

case " $* " in
*" --deb-version"*) ;;
*)
    version=$(dpkg-deb --field "$deb" Version)
    logged=$(dpkg-parsechangelog -l debian/changelog -S Version)
    if [ "$version" != "$logged" ]; then
        echo "debian/build.sh: the package is $version but debian/changelog's last entry is $logged: add an entry" >&2
        exit 1
    fi
    lintian --fail-on error,warning "$deb" >&2
    ;;
esac
echo "$deb"
