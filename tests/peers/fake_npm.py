#!/usr/bin/env python3
"""A fake npm registry for tests/version-poll.t.

Listens on a free 127.0.0.1 port, prints "port <n>" on stdout, and answers
GET requests by the path (the test points npm_registry_url at one):

  /v/<version>      200 {"latest": "<version>", "next": "99.0.0-rc.1"}
  /status/<code>    <code> with a JSON error body
  /slow/<seconds>   sleeps, then 200 {"latest": "9.9.9"}
  /raw/<text>       200 with <text> (percent-decoded) as the body
  /big              200 with a 1 MiB body

Runs until killed. Standard library only.
"""
import json
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def reply(self, status, body):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout): nothing to do

    def do_GET(self):
        parts = self.path.split("/", 2)
        kind = parts[1] if len(parts) > 1 else ""
        arg = urllib.parse.unquote(parts[2]) if len(parts) > 2 else ""
        if kind == "v":
            self.reply(200, json.dumps({"latest": arg,
                                        "next": "99.0.0-rc.1"}))
        elif kind == "status":
            self.reply(int(arg), '{"error": "fake failure"}')
        elif kind == "slow":
            time.sleep(float(arg))
            self.reply(200, '{"latest": "9.9.9"}')
        elif kind == "raw":
            self.reply(200, arg)
        elif kind == "big":
            self.reply(200, b" " * (1 << 20))
        else:
            self.reply(404, '{"error": "not found"}')

    def log_message(self, *args):
        pass  # quiet: prove shows stderr


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print("port %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
