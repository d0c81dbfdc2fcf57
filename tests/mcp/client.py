"""An MCP client (the official SDK's ClientSession over streamable HTTP) that
sends DPoP (RFC 9449) on every request it makes.

    python client.py --url URL --ca CA_PEM --gateway-bin BIN --key KEY --token TOKEN
    python client.py --url URL --ca CA_PEM --no-dpop

With DPoP it initializes a session, lists the tools and calls add(2, 40).
Without, it tries the same, then discovers the protected resource metadata
from the 401 as the SDK's OAuth flow does (RFC 9728). Either way it prints one
JSON line for the test to read.
"""

import argparse
import json
import ssl
import subprocess
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx2
from mcp import ClientSession
from mcp.client.auth.utils import (
    build_protected_resource_metadata_discovery_urls,
    extract_resource_metadata_from_www_auth,
    handle_protected_resource_response,
)
from mcp.client.streamable_http import streamable_http_client

# Bounds the whole run; the test bounds the process as well.
RUN_BOUND_SECS = 20


class DPoPAuth(httpx2.Auth):
    """Sets `Authorization: DPoP <token>` and a fresh proof on each request;
    the proofs come from `dpop-gateway proof`. Records what it sent."""

    def __init__(self, gateway_bin: str, key: str, token: str):
        self.gateway_bin, self.key, self.token = gateway_bin, key, token
        self.sent = []

    def auth_flow(self, request):
        # htu: the request URL without query and fragment (RFC 9449 §4.2).
        scheme, netloc, path, _, _ = urlsplit(str(request.url))
        htu = urlunsplit((scheme, netloc, path, "", ""))
        proof = subprocess.run(
            [self.gateway_bin, "proof", "--key", self.key, "--method", request.method,
             "--url", htu, "--token", self.token],
            check=True, capture_output=True, text=True, timeout=10,
        ).stdout.strip()
        request.headers["Authorization"] = f"DPoP {self.token}"
        request.headers["DPoP"] = proof
        response = yield request
        self.sent.append({
            "method": request.method,
            "htu": htu,
            "status": response.status_code,
            "content_type": response.headers.get("content-type", ""),
        })


async def use_tools(url: str, http: httpx2.AsyncClient) -> dict:
    async with streamable_http_client(url, http_client=http) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            tools = await session.list_tools()
            result = await session.call_tool("add", {"a": 2, "b": 40})
    return {
        "server": init.server_info.name,
        "protocol_version": init.protocol_version,
        "tools": [tool.name for tool in tools.tools],
        "is_error": result.is_error,
        "text": [block.text for block in result.content if block.type == "text"],
        "structured": result.structured_content,
    }


async def with_dpop(url: str, http: httpx2.AsyncClient, auth: DPoPAuth) -> dict:
    out = await use_tools(url, http)
    out["requests"] = auth.sent
    return out


async def without_dpop(url: str, http: httpx2.AsyncClient) -> dict:
    responses = []

    async def keep(response):
        responses.append(response)

    http.event_hooks["response"] = [keep]
    try:
        with anyio.fail_after(10):
            await use_tools(url, http)
        raise SystemExit("the MCP session worked without credentials")
    except Exception:  # the SDK's error for the 401; the response says more
        pass
    http.event_hooks["response"] = []
    if not responses:
        raise SystemExit("no response to the first request")
    first = responses[0]

    # Discovery as in the SDK's OAuth flow: the challenge's resource_metadata
    # first, then the well-known URLs derived from the endpoint.
    advertised = extract_resource_metadata_from_www_auth(first)
    tried, document, parsed = [], None, None
    for candidate in build_protected_resource_metadata_discovery_urls(advertised, url):
        response = await http.get(candidate)
        tried.append({"url": candidate, "status": response.status_code})
        parsed = await handle_protected_resource_response(response)
        if parsed is not None:
            document = response.json()
            break
    return {
        "status": first.status_code,
        "www_authenticate": first.headers.get("www-authenticate"),
        "resource_metadata": advertised,
        "tried": tried,
        "metadata": document,
        "sdk_accepts_metadata": parsed is not None,
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--ca", required=True, help="PEM file of the CA that signed the gateway's certificate")
    parser.add_argument("--gateway-bin")
    parser.add_argument("--key")
    parser.add_argument("--token")
    parser.add_argument("--no-dpop", action="store_true")
    args = parser.parse_args()

    auth = None
    if not args.no_dpop:
        if not (args.gateway_bin and args.key and args.token):
            parser.error("--gateway-bin, --key and --token are needed unless --no-dpop")
        auth = DPoPAuth(args.gateway_bin, args.key, args.token)
    verify = ssl.create_default_context(cafile=args.ca)
    # The SDK keeps a GET stream open for server messages: no short read timeout.
    timeout = httpx2.Timeout(10, read=60)
    with anyio.fail_after(RUN_BOUND_SECS):
        async with httpx2.AsyncClient(auth=auth, verify=verify, trust_env=False, timeout=timeout) as http:
            if auth is None:
                out = await without_dpop(args.url, http)
            else:
                out = await with_dpop(args.url, http, auth)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    anyio.run(main)
