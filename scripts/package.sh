#!/usr/bin/env bash
# Builds the Debian package with cargo-deb and prints its path.
#
#   ./scripts/package.sh                    release build, then the .deb
#   ./scripts/package.sh --profile dev      package the debug binary that
#                                           `cargo test` already built (CI's
#                                           cheap check; not for shipping)
#
# Before `cargo deb` it writes what the package ships besides the binary into
# target/package/ (Cargo.toml's [package.metadata.deb] assets):
#   config.toml    config.example.toml with its example files renamed to the
#                  paths an admin fills in (tls/server.crt, tls/server.key,
#                  keys/as.jwks.json), installed as the conffile
#                  /etc/dpop-gateway/config.toml
#   man/*.1        the manual pages, clap_mangen's rendering of the CLI
#                  (examples/man.rs), so they say what --help says
#   completions/   bash, zsh and fish completions (`dpop-gateway completions`)
# Installs cargo-deb (the pinned version, with no default features: the
# package is compressed by the system's xz) when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION=3.8.0
profile=release
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile=${2:?--profile needs a value}; shift 2 ;;
    *) echo "package.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$profile" in
  dev) profile_dir=debug ;;
  *) profile_dir=$profile ;;
esac

if [ "$(cargo deb --version 2>/dev/null)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
  echo "package.sh: installing cargo-deb $CARGO_DEB_VERSION" >&2
  cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked --no-default-features --quiet
fi

cargo build --locked --profile "$profile" --bin dpop-gateway
target_dir=${CARGO_TARGET_DIR:-target}
bin=$target_dir/$profile_dir/dpop-gateway

out=target/package
rm -rf "$out"
mkdir -p "$out/man" "$out/completions"

# The conffile: the example, pointing at the files an admin provides.
{
  cat <<'HEADER'
# /etc/dpop-gateway/config.toml, installed by the dpop-gateway package from the
# project's config.example.toml. Before `systemctl enable --now dpop-gateway`:
#   - tls/server.crt and tls/server.key: the server's PEM certificate chain and
#     key (or remove [server.tls] to serve plain HTTP behind a TLS proxy);
#   - keys/as.jwks.json: your authorization server's public keys (or use
#     jwks_url / discovery / introspection_url below);
#   - the issuer, audiences and routes of your deployment.
# Make the files readable by the service: chgrp dpop-gateway FILE; chmod 0640 FILE.
# `dpop-gateway check --config /etc/dpop-gateway/config.toml` names what is
# missing. `systemctl reload dpop-gateway` applies a changed config.
#
HEADER
  grep -v -e 'config\.example\.toml' -e 'files under examples/' config.example.toml |
    sed -e 's|"examples/tls/example-localhost\.crt"|"tls/server.crt"|' \
      -e 's|"examples/tls/example-localhost\.key"|"tls/server.key"|' \
      -e 's|"examples/keys/as\.jwks\.json"|"keys/as.jwks.json"|'
} >"$out/config.toml"
if grep -n 'examples/' "$out/config.toml" >&2; then
  echo "package.sh: the packaged config still names files under examples/ (above):" \
    "teach package.sh the new example paths" >&2
  exit 1
fi

cargo run --quiet --locked --profile "$profile" --example man -- "$out/man"
"$bin" completions bash >"$out/completions/dpop-gateway"
"$bin" completions zsh >"$out/completions/_dpop-gateway"
"$bin" completions fish >"$out/completions/dpop-gateway.fish"

mkdir -p target/debian
# --strip: the profile keeps line tables for profiling; the package does not.
deb_args=(--no-build --profile "$profile" --strip --compress-system --output target/debian/)
# A dev build is only packaged to be checked: skip the slow compression.
[ "$profile" = dev ] && deb_args+=(--fast)
cargo deb "${deb_args[@]}" 2> >(grep -v 'dev profile is not supported\|cargo-deb is for making releases\|debug symbols set\|custom profiles' >&2)
