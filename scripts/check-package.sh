#!/usr/bin/env bash
# CI's package check (run as root, after the test suite): builds the .deb from
# the debug binary the tests already built (./scripts/package.sh --profile
# dev; pass --profile release to check the shipping build), installs it with
# dpkg, and asserts what an admin relies on:
#   - /usr/bin/dpop-gateway runs and reports the crate's version;
#   - /etc/dpop-gateway/config.toml is a conffile, root:dpop-gateway 0640;
#   - the system user dpop-gateway exists, with no login shell;
#   - the manual pages are installed, one per command, as examples/man.rs
#     renders them from the CLI; the bash, zsh and fish completions are the
#     installed binary's own (`dpop-gateway completions SHELL`);
#   - `systemd-analyze verify` accepts the installed unit, and
#     `systemd-analyze security --offline=true` rates it OK (exposure <= 2.0);
#   - the installed config names exactly the files an admin must add
#     (`check` fails on them), and once they are there (the repository's
#     throwaway examples/ material, removed again on exit) `check` passes
#     when run as the service user.
# Idempotent: a rerun reinstalls the same package. Never touches an admin's
# files: it refuses to run on a machine whose /etc/dpop-gateway holds
# anything but the packaged config.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

fail() {
  echo "check-package.sh: FAIL: $*" >&2
  exit 1
}
[ "$(id -u)" -eq 0 ] || fail "run as root (it installs the package)"

profile=dev
[ "${1:-}" = "--profile" ] && profile=${2:?--profile needs a value}

etc=/etc/dpop-gateway
if [ -d "$etc" ]; then
  extra=$(find "$etc" -mindepth 1 ! -path "$etc/config.toml" -print -quit)
  [ -z "$extra" ] || fail "$etc holds files of an admin ($extra): not touching this machine"
  if dpkg-query -W -f='${Conffiles}\n' dpop-gateway >/dev/null 2>&1 && [ -f "$etc/config.toml" ]; then
    packaged_md5=$(dpkg-query -W -f='${Conffiles}\n' dpop-gateway | awk '$1 == "/etc/dpop-gateway/config.toml" { print $2 }')
    [ "$(md5sum <"$etc/config.toml" | cut -d' ' -f1)" = "$packaged_md5" ] ||
      fail "$etc/config.toml was edited: not touching this machine"
  fi
fi

# Missing tools: systemd-analyze (systemd), man (man-db), and the package's
# own dependency adduser (dpkg -i does not fetch dependencies).
missing=()
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v man >/dev/null || missing+=(man-db)
command -v adduser >/dev/null || missing+=(adduser)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

deb=$(./scripts/package.sh --profile "$profile" | tail -n1)
[ -f "$deb" ] || fail "package.sh printed no .deb path"
built=$SECONDS

# --force-confold: an upgrade never rewrites an existing config (checked
# above to be the packaged one anyway).
DEBIAN_FRONTEND=noninteractive dpkg --force-confold -i "$deb" >/dev/null ||
  fail "dpkg -i $deb failed"
echo "check-package.sh: installed $deb"

# The binary.
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
[ "$(/usr/bin/dpop-gateway --version)" = "dpop-gateway $version" ] ||
  fail "/usr/bin/dpop-gateway --version: $(/usr/bin/dpop-gateway --version)"

# The conffile and its permissions.
dpkg-query -W -f='${Conffiles}\n' dpop-gateway | grep -q "^ $etc/config.toml [0-9a-f]\{32\}$" ||
  fail "$etc/config.toml is not a conffile of the package"
[ "$(stat -c '%U:%G %a' "$etc/config.toml")" = "root:dpop-gateway 640" ] ||
  fail "$etc/config.toml is $(stat -c '%U:%G %a' "$etc/config.toml"), not root:dpop-gateway 640"
[ "$(stat -c '%U:%G %a' "$etc")" = "root:dpop-gateway 750" ] ||
  fail "$etc is $(stat -c '%U:%G %a' "$etc"), not root:dpop-gateway 750"

# The system user.
IFS=: read -r _ _ uid _ _ home shell < <(getent passwd dpop-gateway) || fail "no user dpop-gateway"
[ "$uid" -lt 1000 ] || fail "dpop-gateway is no system user (uid $uid)"
[ "$shell" = /usr/sbin/nologin ] || fail "dpop-gateway's shell is $shell"
[ "$home" = /nonexistent ] || fail "dpop-gateway's home is $home"

# Manual pages (from the CLI definition) and completions (the binary's own).
man -w dpop-gateway | grep -qx '/usr/share/man/man1/dpop-gateway.1.gz' || fail "man -w dpop-gateway"
man -w dpop-gateway-run >/dev/null || fail "man -w dpop-gateway-run"
fresh=$(mktemp -d)
added=()
cleanup() {
  rm -rf "$fresh"
  if [ ${#added[@]} -gt 0 ]; then rm -rf "${added[@]}"; fi
}
trap cleanup EXIT
cargo run --quiet --locked --profile "$profile" --example man -- "$fresh/man"
for page in "$fresh"/man/*.1; do
  installed=/usr/share/man/man1/$(basename "$page").gz
  cmp -s "$page" <(zcat "$installed") || fail "$installed is not examples/man.rs's $(basename "$page")"
done
[ "$(find /usr/share/man/man1 -name 'dpop-gateway*' | wc -l)" = "$(find "$fresh/man" -name '*.1' | wc -l)" ] ||
  fail "the package's manual pages differ in number from examples/man.rs's"
for pair in bash:/usr/share/bash-completion/completions/dpop-gateway \
  zsh:/usr/share/zsh/vendor-completions/_dpop-gateway \
  fish:/usr/share/fish/vendor_completions.d/dpop-gateway.fish; do
  cmp -s "${pair#*:}" <(/usr/bin/dpop-gateway completions "${pair%%:*}") ||
    fail "${pair#*:} is not \`dpop-gateway completions ${pair%%:*}\`"
done

# The unit.
unit=/usr/lib/systemd/system/dpop-gateway.service
verify=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify $unit: $verify"
if grep -q 'dpop-gateway' <<<"$verify"; then fail "systemd-analyze verify $unit: $verify"; fi
security=$(systemd-analyze security --offline=true "$unit" 2>&1) ||
  fail "systemd-analyze security: $security"
exposure=$(sed -n 's/.*Overall exposure level for dpop-gateway.service: \([0-9.]*\) .*/\1/p' <<<"$security")
[ -n "$exposure" ] || fail "no exposure level in: $security"
awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }' ||
  fail "exposure $exposure > 2.0 (systemd-analyze security --offline=true $unit)"
echo "check-package.sh: systemd-analyze security: exposure $exposure"

# The installed config: exactly the admin's files are missing ...
check() { runuser -u dpop-gateway -- /usr/bin/dpop-gateway check --config "$etc/config.toml" 2>&1; }
set +e
out=$(check)
rc=$?
set -e
[ "$rc" = 2 ] || fail "check on the pristine config exited $rc, not 2: $out"
for file in tls/server.crt tls/server.key keys/as.jwks.json; do
  grep -q "$etc/$file" <<<"$out" || fail "check does not name the missing $etc/$file: $out"
done
[ "$(grep -c "$etc/" <<<"$out")" = 3 ] || fail "check names other problems than the three files: $out"
# ... and with them the config passes, for the service's user.
added=("$etc/tls" "$etc/keys")
install -d -o root -g dpop-gateway -m 0750 "$etc/tls" "$etc/keys"
install -o root -g dpop-gateway -m 0640 examples/tls/example-localhost.crt "$etc/tls/server.crt"
install -o root -g dpop-gateway -m 0640 examples/tls/example-localhost.key "$etc/tls/server.key"
install -o root -g dpop-gateway -m 0640 examples/keys/as.jwks.json "$etc/keys/as.jwks.json"
out=$(check) || fail "check on the completed config: $out"
[ "$(tail -n1 <<<"$out")" = ok ] || fail "check printed: $out"

echo "check-package.sh: ok ($((built - started)) s to build the .deb, $((SECONDS - built)) s to install and check)"
