#!/bin/sh
# Shared by debian/build.sh and rpm/build.sh: builds the release binary, then stages what both
# packages take from the build into target/package/, at the fixed paths Cargo.toml's
# [package.metadata.deb] and [package.metadata.generate-rpm] name:
#   units/        the systemd units, plain and template (cognitod@.service ...), written by the
#                 release binary itself (`cognitod install`, `cognitod install --instance`), so
#                 the packaged text is exactly what `cognitod install` renders
#   man/          cognitod.1.gz and cognitod-SUBCOMMAND.1.gz (build.rs: clap_mangen)
#   completions/  cognitod (bash), _cognitod (zsh), cognitod.fish (build.rs: clap_complete)
#   copyright     debian/copyright plus the crates linked into the binary
#   Apache-2.0    the licence text, for the .rpm (Debian systems have it in common-licenses)
set -eu
cd "$(dirname "$0")/.."
STAGE=target/package

# cargo reports where the binary and build.rs's OUT_DIR are (also when nothing was rebuilt).
mkdir -p target
cargo build --release --locked --message-format=json-render-diagnostics >target/package-build.json
paths=$(python3 - target/package-build.json <<'EOF'
import json, sys
exe = out = None
messages = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
for m in messages:
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "cognitod" and m.get("executable"):
        exe, pkg = m["executable"], m["package_id"]
for m in messages:
    if m.get("reason") == "build-script-executed" and m["package_id"] == pkg:
        out = m["out_dir"]
print(exe, out)
EOF
)
bin=${paths% *}
out=${paths#* }

rm -rf "$STAGE"
mkdir -p "$STAGE/units" "$STAGE/man" "$STAGE/completions"

# The socket units as `cognitod install -s unix,tcp,http` writes them, then the service as
# `-s unix` writes it: it Requires= only cognitod.socket, so the tcp and http sockets listen only
# when the administrator enables them (a service requiring all three would open TCP port 5500 and
# HTTP port 8080 to every local user on its first start). Enabled, they still hand their sockets
# to the service: systemd passes every listening socket whose Service= names it.
# --allow-no-secret: the package generates no secret at build time; tcp and http refuse
# credentials until the administrator gives them one (README, "Packages").
"$bin" install -i "$STAGE/units" --bin /usr/bin/cognitod -s unix,tcp,http --allow-no-secret --force >/dev/null
"$bin" install -i "$STAGE/units" --bin /usr/bin/cognitod -s unix --force >/dev/null
# The template units (cognitod@.service, cognitod@.socket, cognitod-tcp@.socket,
# cognitod-http@.socket) as `cognitod install --instance` writes them; the instance's own
# drop-ins (its ports) it writes beside them are not packaged: every instance sets its own.
tmpl=$(mktemp -d)
"$bin" install -i "$tmpl" --bin /usr/bin/cognitod -s unix,tcp,http --instance package --allow-no-secret --force >/dev/null
cp "$tmpl"/*@.service "$tmpl"/*@.socket "$STAGE/units/"
rm -rf "$tmpl"

# -n: no name or time stamp in the gzip header, so equal pages give equal packages.
for page in "$out"/man/*.1; do
    gzip -9n <"$page" >"$STAGE/man/${page##*/}.gz"
done
cp "$out/completions/cognitod.bash" "$STAGE/completions/cognitod"
cp "$out/completions/_cognitod" "$out/completions/cognitod.fish" "$STAGE/completions/"

# The crate list goes at the end of the header paragraph's Comment (its first blank line).
crates=$(cargo tree --locked -e normal --prefix none --format ' {p}: {l}' |
    sed -e 's/ (\*)$//' -e 's/ (\/.*)//' | grep -v '^ cognitod ' | sort -u)
awk -v crates="$crates" '!done && $0 == "" { print " ."; print crates; done = 1 } { print }' \
    debian/copyright >"$STAGE/copyright"
cp /usr/share/common-licenses/Apache-2.0 "$STAGE/Apache-2.0"
