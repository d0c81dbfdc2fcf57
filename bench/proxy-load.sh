#!/usr/bin/env bash
# Keep-alive load through the gateway vs straight to the upstream, in one run.
#
# Upstream: nginx on loopback answering a small static body. Load: wrk
# (keep-alive, fixed duration). Measured side by side, same machine, same
# run: nginx direct, nginx itself as a reverse proxy (the same hop, for
# scale), the gateway over plain HTTP (auth = "none"), the gateway
# over TLS (auth = "none"), and the gateway over TLS with a full DPoP check
# per request (a fresh, pre-signed proof for every request).
#
#   bench/proxy-load.sh [seconds] [connections]
#
# Installs nginx and wrk with apt-get when missing. Everything listens on
# 127.0.0.1 and stops when the script ends.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
CONNS=${2:-32}
THREADS=1

need() { command -v "$1" >/dev/null 2>&1; }
if ! need nginx || ! need wrk; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx wrk >/dev/null
fi
NGINX=$(command -v nginx)

cargo build --release --quiet
BIN=target/release/dpop-gateway

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UP=$(free_port); NGX_PROXY=$(free_port); GW_HTTP=$(free_port); GW_TLS=$(free_port)

mkdir -p "$WORK/nginx"
cat > "$WORK/nginx.conf" <<NGINX
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx;
  proxy_temp_path $WORK/nginx;
  fastcgi_temp_path $WORK/nginx;
  uwsgi_temp_path $WORK/nginx;
  scgi_temp_path $WORK/nginx;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$UP;
    location / { default_type application/json; return 200 '{"ok":true}'; }
  }
  # The same kind of hop done by nginx itself: a reverse-proxy baseline.
  upstream origin { server 127.0.0.1:$UP; keepalive 64; }
  server {
    listen 127.0.0.1:$NGX_PROXY;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
NGINX
"$NGINX" -c "$WORK/nginx.conf"

# Test material: a throwaway issuer, client key, token and certificate.
"$BIN" keygen --out "$WORK/as.jwk" --jwks "$WORK/as.jwks.json" >/dev/null
JKT=$("$BIN" keygen --out "$WORK/client.jwk")
TOKEN=$("$BIN" token --issuer-key "$WORK/as.jwk" --iss https://as.bench --aud https://api.bench --jkt "$JKT" --ttl 3600)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$WORK/tls.key" -out "$WORK/tls.crt" 2>/dev/null

gateway_config() { # listen tls?
  cat <<TOML
[server]
listen = "127.0.0.1:$1"
max_connections = 10000
$( [ "$2" = tls ] && printf '[server.tls]\ncert = "tls.crt"\nkey = "tls.key"\n' )
[dpop]
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
}
gateway_config "$GW_HTTP" plain > "$WORK/http.toml"
gateway_config "$GW_TLS" tls > "$WORK/tls.toml"
"$BIN" run --config "$WORK/http.toml" --log-level warn 2>"$WORK/http.log" & PIDS+=($!)
"$BIN" run --config "$WORK/tls.toml" --log-level warn 2>"$WORK/tls.log" & PIDS+=($!)

for port in $UP $NGX_PROXY $GW_HTTP $GW_TLS; do
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
done

# Pre-signed proofs, one per request, for the DPoP run (wrk cycles through them;
# more than the run can use, so none is replayed).
NPROOFS=${NPROOFS:-$((SECS * 25000))}
URL="https://127.0.0.1:$GW_TLS/dpop/orders"
"$BIN" proof --key "$WORK/client.jwk" --method GET --url "$URL" --token "$TOKEN" --count "$NPROOFS" > "$WORK/proofs.txt"

cat > "$WORK/dpop.lua" <<LUA
local proofs = {}
for line in io.lines("$WORK/proofs.txt") do proofs[#proofs + 1] = line end
local i = 0
local counter = 0
setup = function(thread) thread:set("offset", counter); counter = counter + 1 end
init = function(args) i = offset * math.floor(#proofs / $THREADS) end
request = function()
  i = i + 1
  return wrk.format("GET", "/dpop/orders", {
    ["Authorization"] = "DPoP $TOKEN",
    ["DPoP"] = proofs[i],
  })
end
done = function(summary, latency, requests)
  io.write(string.format("statuses_non2xx %d\n", summary.errors.status))
end
LUA

run() { # name url [script]
  local out
  if [ -n "${3:-}" ]; then
    out=$(wrk -t$THREADS -c$CONNS -d${SECS}s --latency -s "$3" "$2")
  else
    out=$(wrk -t$THREADS -c$CONNS -d${SECS}s --latency "$2")
  fi
  local rps p50 p99 non2xx
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $5}')
  printf '%-34s %10s req/s   p50 %-9s p99 %-9s non-2xx %s\n' "$1" "$rps" "$p50" "$p99" "${non2xx:-0}"
  echo "$rps" > "$WORK/rps.$4"
}

echo "wrk -t$THREADS -c$CONNS -d${SECS}s, keep-alive, 2 cores shared by wrk, gateway and nginx"
run "nginx direct (http)"              "http://127.0.0.1:$UP/open/x"        ""                  direct
run "nginx proxy_pass (http)"          "http://127.0.0.1:$NGX_PROXY/open/x" ""                  nginxproxy
run "gateway http, auth=none"          "http://127.0.0.1:$GW_HTTP/open/x"   ""                  http
run "gateway https, auth=none"         "https://127.0.0.1:$GW_TLS/open/x"   ""                  https
run "gateway https, auth=dpop (ES256)" "$URL"                               "$WORK/dpop.lua"    dpop
python3 - "$WORK" <<'PY'
import sys, pathlib
w = pathlib.Path(sys.argv[1])
r = {k: float((w / f"rps.{k}").read_text()) for k in ["direct", "nginxproxy", "http", "https", "dpop"]}
print(f"ratios vs nginx direct: nginx proxy_pass {r['nginxproxy']/r['direct']:.2f}, gateway http {r['http']/r['direct']:.2f}, https {r['https']/r['direct']:.2f}, https+DPoP {r['dpop']/r['direct']:.2f}")
print(f"gateway http vs nginx proxy_pass: {r['http']/r['nginxproxy']:.2f}")
PY
