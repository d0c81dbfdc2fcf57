#!/usr/bin/env bash
# Provides the Python environments the tests run, each a virtual environment
# in target/ with pinned requirements installed:
#   target/mcp-venv     tests/mcp/requirements.txt (the official MCP SDK), for tests/mcp.rs
#   target/deploy-venv  tests/deploy/requirements.txt (kubernetes-validate), for tests/deploy.rs
# Creates one when missing or when its requirements changed; otherwise
# returns at once. Installs python3 and python3-venv through apt when
# `python3 -m venv` cannot make an environment.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
  echo "python-env.sh: installing $*" >&2
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  fi
}

make_venv() {
  local venv=$1
  rm -rf "$venv"
  mkdir -p target
  python3 -m venv "$venv" >/dev/null 2>&1
}

ensure_venv() {
  local venv=$1 requirements=$2
  local stamp=$venv/.requirements.txt
  if [ -x "$venv/bin/python" ] && cmp -s "$requirements" "$stamp" &&
    "$venv/bin/python" -c '' 2>/dev/null; then
    return 0
  fi
  # Debian and Ubuntu ship the venv module without ensurepip until python3-venv
  # is installed: `python3 -m venv` then fails, so try first and install after.
  if ! command -v python3 >/dev/null 2>&1 || ! make_venv "$venv"; then
    if ! command -v apt-get >/dev/null 2>&1; then
      echo "python-env.sh: python3 with the venv module is needed; please install it" >&2
      exit 1
    fi
    apt_install python3 python3-venv
    make_venv "$venv"
  fi

  echo "python-env.sh: installing $(grep -v '^#' "$requirements" | xargs) into $venv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$stamp"
}

ensure_venv target/mcp-venv tests/mcp/requirements.txt
ensure_venv target/deploy-venv tests/deploy/requirements.txt
