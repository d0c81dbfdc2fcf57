#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from the shared vectors, the test fixtures, the
# example keys and config (small files; the corpora themselves are not
# committed). Idempotent: a seed is named by the SHA-256 of its content.
set -euo pipefail
cd "$(dirname "$0")/.."
vectors="${DPOP_VECTORS:-tests/fixtures/jose/rfc9449.json}"
[ -f /work/shared/vectors/rfc9449.json ] && [ -z "${DPOP_VECTORS:-}" ] && vectors=/work/shared/vectors/rfc9449.json

python3 - "$vectors" <<'PY'
import hashlib, json, os, pathlib, sys

vectors = json.load(open(sys.argv[1]))
root = pathlib.Path("fuzz/corpus")

def seed(target, data):
    if isinstance(data, (dict, list)):
        data = json.dumps(data, separators=(",", ":"))
    if isinstance(data, str):
        data = data.encode()
    d = root / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha256(data).hexdigest()[:16]).write_bytes(data)

jwks = pathlib.Path("examples/keys/as.jwks.json").read_bytes()
seed("jwks", jwks)
for key in json.loads(jwks).get("keys", []):
    seed("jwk", key)
for name in ("rfc9449_key", "rfc7638_rsa_key", "rfc8037_ed25519_key"):
    if name in vectors:
        seed("jwk", vectors[name])
        seed("jwks", {"keys": [vectors[name]]})
for f in pathlib.Path("tests/fixtures/jose").glob("*.jwk.json"):
    seed("jwk", f.read_bytes())
for v in vectors.get("jws", []):
    seed("proof", v["compact"])
    seed("access_token", v["compact"])
    seed("credentials", "authorization: DPoP %s\ndpop: %s\n" % (vectors.get("rfc9449_access_token", "t"), v["compact"]))
seed("access_token", vectors.get("rfc9449_access_token", "a.b.c"))
seed("credentials", "authorization: Bearer abc\n?access_token=x")
seed("credentials", "authorization: DPoP abc\ndpop: a.b.c\ndpop: d.e.f\n")
if "rfc9449_fig11_introspection_response" in vectors:
    seed("introspection", vectors["rfc9449_fig11_introspection_response"])
seed("introspection", {"active": False})
for u in ("https://resource.example.org/protectedresource",
          "HTTPS://Server.Example.COM:443/a/%7Euser/./b/../c?q#f",
          "http://[::1]:80/%41%2f",
          "api.example|/api/v1/%78~y/z",
          "admin.example.|/x"):
    seed("htu_routing", u)
seed("nonce", "AQAAAABrSdKEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
for f in ["config.example.toml"] + [str(p) for p in pathlib.Path("deploy").rglob("*.toml")]:
    text = pathlib.Path(f).read_text()
    # The fuzz target skips absolute paths; relative ones stay.
    seed("config", text)
print("seeded", sum(1 for _ in root.rglob("*") if _.is_file()), "files in", root)
PY
