#!/bin/sh
# Builds the .rpm on Debian 12 (root, Rust): `bash rpm/build.sh` ->
# target/generate-rpm/cognitod-<version>-1.<arch>.rpm, checked with rpmlint (fails on any
# error or warning that rpm/rpmlint.toml does not explain). Installs what is missing.
# Arguments go to cargo-generate-rpm (e.g. `-s 'release = "2"'`).
set -eu
cd "$(dirname "$0")/.."
# One packaging at a time per checkout: the staging area target/package/ is shared.
mkdir -p target
exec 9>target/.packaging.lock
flock 9

missing=""
command -v rpm >/dev/null || missing="$missing rpm"
command -v rpmlint >/dev/null || missing="$missing rpmlint"
command -v python3 >/dev/null || missing="$missing python3" # debian/stage.sh
if [ -n "$missing" ]; then
    echo "rpm/build.sh: installing$missing" >&2
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null
fi
command -v cargo-generate-rpm >/dev/null || cargo install --locked cargo-generate-rpm@0.21.1

sh debian/stage.sh

# Dated by the last changelog entry, as the .deb: the same sources give the same package.
SOURCE_DATE_EPOCH=$(date -d "$(sed -n 's/^ -- .*>  //p' debian/changelog | head -n 1)" +%s)
export SOURCE_DATE_EPOCH
rm -rf target/generate-rpm
cargo generate-rpm "$@" >&2
rpm=$(ls target/generate-rpm/*.rpm)
# rpmlint's exit status tells errors only: its summary line tells warnings too.
lint=$(rpmlint -c rpm/rpmlint.toml "$rpm") || true
echo "$lint" >&2
case "$lint" in
*" 0 errors, 0 warnings"*) ;;
*) echo "rpm/build.sh: rpmlint found errors or warnings" >&2; exit 1 ;;
esac
echo "$rpm"
