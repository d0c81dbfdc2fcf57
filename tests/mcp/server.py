"""An MCP server (the official SDK's MCPServer) over streamable HTTP on loopback.

    python server.py [--port N]     (default 0: any free port)

Serves the MCP endpoint at /mcp with one tool, add(a, b). Prints `READY <port>`
once it listens, then one `REQUEST {json}` line per HTTP request it receives
(method, path and every header), so that a test can tell how it was reached.
"""

import argparse
import json
import socket

import anyio
import uvicorn
from mcp.server.mcpserver import MCPServer

mcp = MCPServer("adder")


@mcp.tool()
def add(a: int, b: int) -> int:
    """Adds two integers."""
    return a + b


class RecordRequests:
    """ASGI middleware: prints each HTTP request before handing it on."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = {}
            for name, value in scope["headers"]:
                headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
            line = {"method": scope["method"], "path": scope["path"], "headers": headers}
            print("REQUEST " + json.dumps(line), flush=True)
        await self.app(scope, receive, send)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(64)
    # Host "127.0.0.1" keeps the SDK's DNS-rebinding protection on: only
    # requests whose Host is 127.0.0.1:* or localhost:* are served.
    app = RecordRequests(mcp.streamable_http_app(streamable_http_path="/mcp", host="127.0.0.1"))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    print(f"READY {sock.getsockname()[1]}", flush=True)
    await server.serve(sockets=[sock])


if __name__ == "__main__":
    anyio.run(main)
