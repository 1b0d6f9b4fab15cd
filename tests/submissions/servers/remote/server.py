"""A tiny streamable-HTTP MCP server on 127.0.0.1 (JSON answers, no sessions).

``python server.py [--require-token]`` prints its port on the first line of stdout and
serves until stdin closes. With ``--require-token`` every request without
``Authorization: Bearer fixture`` gets a 401, as a server that needs sign-in does.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REQUIRE_TOKEN = "--require-token" in sys.argv
TOOL = {
    "name": "now",
    "description": "The fixture's fixed time.",
    "annotations": {"readOnlyHint": True},
}


def answer(request):
    method = request.get("method")
    if method == "initialize":
        return {
            "protocolVersion": request["params"].get("protocolVersion", "2025-06-18"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "remote-fixture", "version": "1.0.0"},
        }
    if method == "tools/list":
        return {"tools": [TOOL]}
    if method == "tools/call":
        return {"content": [{"type": "text", "text": "2026-01-01T00:00:00Z"}]}
    return {}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if REQUIRE_TOKEN and self.headers.get("Authorization") != "Bearer fixture":
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Bearer realm="fixture"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        request = json.loads(body)
        if "id" not in request:
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        reply = {"jsonrpc": "2.0", "id": request["id"], "result": answer(request)}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.send_response(405)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_DELETE(self):
        self.send_response(405)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
print(server.server_address[1], flush=True)
sys.stdin.read()
server.shutdown()
