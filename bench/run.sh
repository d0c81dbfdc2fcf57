#!/usr/bin/env bash
# The side-by-side benchmark, one command:
#
#   bench/run.sh [seconds-per-contender] [runs]        (defaults: 5 s, 3 runs)
#
# Starts on loopback, on ephemeral ports: an upstream (nginx, a static 200),
# nginx as a TLS 1.3 reverse proxy, the gateway (an `auth = "none"` route and
# an `auth = "dpop"` route) and Apache + mod_oauth2 verifying the same DPoP
# tokens, all with one throwaway CA (rcgen). One client (bench/load, Rust)
# drives each in turn over HTTP/1.1 and HTTP/2: closed loop at $CONC requests
# in flight, then the gateway's DPoP route in an open loop at half the rate
# it reached. Every DPoP request carries a fresh proof signed before the
# window. CPU per request comes from /proc. Then the medians go to
# bench/results/results.{md,json} and chart.svg, with the budgets.
#
# Installs nginx, apache2 and libapache2-mod-oauth2 with apt-get when missing
# (as root). Everything stops, and the scratch directory goes, on exit.
# Environment: CONC (32), PROTOS ("h1 h2"), OUT (bench/results).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
RUNS=${2:-3}
CONC=${CONC:-32}
PROTOS=${PROTOS:-"h1 h2"}
OUT=${OUT:-bench/results}

# shellcheck source=bench/lib.sh
. bench/lib.sh
need_packages nginx apache2 libapache2-mod-oauth2
MODS=/usr/lib/apache2/modules
build
start_common
NGX=$(free_port); AP=$(free_port)

# nginx as the reverse-proxy baseline, to the same upstream.
nginx_conf nginx auto "upstream origin { server 127.0.0.1:$UP; keepalive 64; }
  server {
    listen 127.0.0.1:$NGX ssl http2;
    ssl_protocols TLSv1.3;
    ssl_certificate $WORK/server.crt;
    ssl_certificate_key $WORK/server.key;
    http2_max_requests 100000000;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
    }
  }" > "$WORK/nginx.conf"
nginx -c "$WORK/nginx.conf"

# Apache + mod_oauth2: the token verified against the issuer's public JWK,
# `type=dpop` for the proof (liboauth2 dpop.c: typ, alg, signature, htm, htu,
# iat, jti in a shared-memory cache, ath, cnf.jkt; it does not check that the
# jwk holds no private key, nor server nonces).
JWK=$(cat "$WORK/as.public.jwk")
cat > "$WORK/apache.conf" <<APACHE
ServerRoot $WORK
ServerName 127.0.0.1
DefaultRuntimeDir $WORK
PidFile $WORK/apache.pid
Mutex file:$WORK default
ErrorLog $WORK/apache-error.log
LogLevel warn oauth2:error
User www-data
Group www-data
LoadModule mpm_event_module $MODS/mod_mpm_event.so
LoadModule authn_core_module $MODS/mod_authn_core.so
LoadModule authz_core_module $MODS/mod_authz_core.so
LoadModule authz_user_module $MODS/mod_authz_user.so
LoadModule socache_shmcb_module $MODS/mod_socache_shmcb.so
LoadModule ssl_module $MODS/mod_ssl.so
LoadModule http2_module $MODS/mod_http2.so
LoadModule proxy_module $MODS/mod_proxy.so
LoadModule proxy_http_module $MODS/mod_proxy_http.so
LoadModule oauth2_module $MODS/mod_oauth2.so
StartServers 2
ServerLimit 2
ThreadLimit 64
ThreadsPerChild 64
MaxRequestWorkers 128
MinSpareThreads 1
MaxSpareThreads 128
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 60
Listen 127.0.0.1:$AP
SSLSessionCache shmcb:$WORK/ssl_scache(512000)
<VirtualHost 127.0.0.1:$AP>
  SSLEngine on
  SSLProtocol -all +TLSv1.3
  SSLCertificateFile $WORK/server.crt
  SSLCertificateKeyFile $WORK/server.key
  Protocols h2 http/1.1
  H2MaxSessionStreams 128
  # The module's default shm size (1000 entries): its cache lookup scans
  # every entry, so a cache big enough to hold every jti of a run (100,000)
  # brings it down to about 12 requests/s. When it overruns, the oldest
  # entry goes, with a warning (kept out of the log: oauth2:error).
  OAuth2Cache shm name=jti
  <Location /dpop>
    AuthType oauth2
    OAuth2AcceptTokenIn header name=Authorization&type=DPoP
    OAuth2TokenVerify jwk '$JWK' type=dpop&dpop.cache=jti&dpop.expiry=300&dpop.iat.slack.before=300&dpop.iat.slack.after=10
    Require valid-user
    ProxyPass http://127.0.0.1:$UP/dpop
  </Location>
</VirtualHost>
APACHE
apache2 -f "$WORK/apache.conf" -DFOREGROUND 2>"$WORK/apache-stderr.log" &
PIDS+=($!)

for port in $NGX $AP; do wait_port "$port"; done
for _ in $(seq 50); do [ -s "$WORK/apache.pid" ] && [ -s "$WORK/nginx.pid" ] && break; sleep 0.1; done
NGX_PID=$(cat "$WORK/nginx.pid")
AP_PID=$(cat "$WORK/apache.pid")

RESULTS="$WORK/results.jsonl"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
load() { "$LOAD" run --ca "$WORK/ca.pem" --concurrency "$CONC" --secs "$SECS" --out "$RESULTS" "$@"; }
PROOFS_GW=${PROOFS_GW:-$((SECS * 30000))}
PROOFS_AP=${PROOFS_AP:-$((SECS * 8000))}
for run in $(seq "$RUNS"); do
  echo "run $run of $RUNS" >&2
  "$LOAD" floor --out "$RESULTS"
  for proto in $PROTOS; do
    common=(--run "$run" --proto "$proto")
    load "${common[@]}" --label nginx --pids "$NGX_PID" --url "https://127.0.0.1:$NGX/open/orders"
    load "${common[@]}" --label gateway-none --pids "$GW_PID" --url "https://127.0.0.1:$GW/open/orders"
    load "${common[@]}" --label gateway-dpop --pids "$GW_PID" --url "https://127.0.0.1:$GW/dpop/orders" \
      --dpop "$WORK" --proofs "$PROOFS_GW"
    load "${common[@]}" --label gateway-dpop --pids "$GW_PID" --url "https://127.0.0.1:$GW/dpop/orders" \
      --dpop "$WORK" --rate-of gateway-dpop --rate-fraction 0.5
    load "${common[@]}" --label apache-oauth2 --pids "$AP_PID" --url "https://127.0.0.1:$AP/dpop/orders" \
      --dpop "$WORK" --proofs "$PROOFS_AP"
  done
done
mkdir -p "$OUT"
"$LOAD" report "$RESULTS" --out "$OUT"
# Other work on the machine skews every figure: say how busy it was.
printf '\nLoad average (1, 5, 15 min) at the start: %s; at the end: %s.\n' \
  "$LOAD_START" "$(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/results.md"
if grep -q . "$WORK/apache-error.log" 2>/dev/null; then
  echo "apache error log (first lines):" >&2
  head -5 "$WORK/apache-error.log" >&2
fi
