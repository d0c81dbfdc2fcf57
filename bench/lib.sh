# Shared by bench/run.sh and bench/profile.sh (sourced, not run): builds the
# gateway and the load generator, and starts on loopback an upstream (nginx,
# a static 200) and the gateway with an `auth = "none"` and an `auth = "dpop"`
# route, with a throwaway CA and keys from `load setup`. Sets BIN, LOAD,
# WORK, UP, GW, GW_PID; everything started stops, and WORK goes, on exit.

need_packages() { # package...
  local missing=() pkg
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "$0 needs: ${missing[*]} (apt-get install as root)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build() {
  export CARGO_INCREMENTAL=0
  # BIN may name an already built gateway (e.g. another profile's build).
  if [ -z "${BIN:-}" ]; then
    cargo build --release --locked --quiet
    BIN=$PWD/target/release/dpop-gateway
  fi
  # LOAD may name an already built load generator (it does not change with the gateway).
  [ -n "${LOAD:-}" ] || LOAD=$(cargo bench --locked --bench load --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\))$/\1/p' | tail -1)
  [ -x "$LOAD" ] || { echo "could not build the load generator" >&2; exit 1; }
}

PIDS=()
cleanup() {
  local p f
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for f in "$WORK"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  sleep 0.5
  rm -rf "$WORK"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_port() {
  for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "nothing listens on port $1" >&2
  cat "$WORK"/*.log >&2 || true
  exit 1
}

nginx_conf() { # name workers http-block-body
  mkdir -p "$WORK/$1"
  cat <<NGINX
worker_processes $2;
pid $WORK/$1.pid;
error_log $WORK/$1/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/$1;
  proxy_temp_path $WORK/$1;
  fastcgi_temp_path $WORK/$1;
  uwsgi_temp_path $WORK/$1;
  scgi_temp_path $WORK/$1;
  keepalive_requests 100000000;
  $3
}
NGINX
}

# Scratch directory, TLS material, keys, token, the upstream, and the
# gateway (its command prefixed by $GW_WRAP, e.g. valgrind).
start_common() {
  WORK=$(mktemp -d /tmp/dpop-bench.XXXXXX)
  trap cleanup EXIT
  chmod 755 "$WORK"
  UP=$(free_port); GW=$(free_port)
  "$LOAD" setup "$WORK"
  chmod 644 "$WORK"/*
  nginx_conf nginx-up 1 "server {
    listen 127.0.0.1:$UP;
    location / { default_type application/json; return 200 '{\"ok\":true}'; }
  }" > "$WORK/nginx-up.conf"
  nginx -c "$WORK/nginx-up.conf"
  cat > "$WORK/gateway.toml" <<TOML
[server]
listen = "127.0.0.1:$GW"
max_connections = 10000
[server.tls]
cert = "server.crt"
key = "server.key"
[dpop]
algs = ["ES256"]
max_age_secs = 300
[[issuers]]
issuer = "https://as.bench"
audiences = ["https://api.bench"]
jwks_file = "as.jwks.json"
[[routes]]
name = "open"
path_prefix = "/open"
upstream = "http://127.0.0.1:$UP"
auth = "none"
[[routes]]
name = "dpop"
path_prefix = "/dpop"
upstream = "http://127.0.0.1:$UP"
auth = "dpop"
TOML
  # shellcheck disable=SC2086
  ${GW_WRAP:-} "$BIN" run --config "$WORK/gateway.toml" --log-level warn --log-format text 2>"$WORK/gateway.log" &
  GW_PID=$!
  PIDS+=("$GW_PID")
  wait_port "$UP"
  wait_port "$GW"
}
