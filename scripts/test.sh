#!/usr/bin/env bash
# The test command: provides what the tests need when it is missing, then runs
# the whole suite. Extra arguments go to `cargo test` (e.g. a test name).
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1; }
apt_install() {
  if need apt-get; then
    echo "test.sh: installing $*" >&2
    if [ "$(id -u)" -eq 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    else
      sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    fi
  else
    echo "test.sh: please install: $*" >&2
    exit 1
  fi
}

# The graceful-drain test signals the gateway with kill(1); the Redis replay
# tests start their own redis-server processes on ephemeral loopback ports
# (and join three into a Redis Cluster with redis-cli).
missing=()
need kill || missing+=(procps)
need redis-server || missing+=(redis-server)
need redis-cli || missing+=(redis-tools)
# The metrics test scrapes the gateway with a real Prometheus and checks the
# alert rules with promtool (both in Debian's prometheus package).
{ need prometheus && need promtool; } || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi

# The MCP test runs the official MCP SDK from a virtual environment in target/.
./scripts/python-env.sh

cargo test --locked "$@"
