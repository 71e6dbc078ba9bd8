#!/usr/bin/env python3
"""A recording HTTP receiver standing in for Telegram, Slack, Discord,
PagerDuty and webhook endpoints in Kiln's tests.

Every request (but the control ones) is appended to --log as one JSON
line: method, path, headers, body and, for a path with a secret, whether
its X-Kiln-Signature verified. It answers 200 {"ok": true} unless told
otherwise for a path prefix:

    POST /__control {"path": "/p", "status": 500, "retry_after": "120",
                     "sleep": 4, "times": 1, "secret": "s"}

sets how requests under /p are answered (times: for that many requests,
then back to 200; absent: for ever) and the secret their signature is
checked with. POST /__reset forgets every rule. The port it listens on
(127.0.0.1, chosen by the kernel) is written to --port-file once it
listens.
"""
import argparse
import hashlib
import hmac
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

rules = {}
lock = threading.Lock()
args = None


def rule_for(path):
    """The rule of the longest prefix of path, or {}."""
    best = ""
    for prefix in rules:
        if path.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return best, rules.get(best, {})


def check_signature(secret, header, body):
    if not secret:
        return "unchecked"
    if not header:
        return "missing"
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    if "t" not in parts or "v1" not in parts:
        return "malformed"
    want = hmac.new(secret.encode(), parts["t"].encode() + b"." + body,
                    hashlib.sha256).hexdigest()
    return "valid" if hmac.compare_digest(want, parts["v1"]) else "invalid"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY the
    # second waits out the client's delayed ACK (40 ms a request).
    disable_nagle_algorithm = True

    def log_message(self, fmt, *a):
        pass

    def answer(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def control(self, body):
        with lock:
            if self.path == "/__reset":
                rules.clear()
            else:
                r = json.loads(body)
                rules[r.pop("path")] = r
        self.answer(200, {"ok": True})

    def do_GET(self):
        self.answer(200, {"ok": True})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        if self.path in ("/__control", "/__reset"):
            return self.control(body)
        with lock:
            prefix, rule = rule_for(self.path)
            if rule.get("times") is not None:
                rule["times"] -= 1
                if rule["times"] <= 0:
                    del rules[prefix]
            secret = rule.get("secret", args.secret)
        rec = {
            "at": time.time(),
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("utf-8", "replace"),
            "sig": check_signature(secret,
                                   self.headers.get("X-Kiln-Signature"),
                                   body),
        }
        if args.log:
            with lock, open(args.log, "a") as f:
                f.write(json.dumps(rec) + "\n")
        if rule.get("sleep"):
            time.sleep(float(rule["sleep"]))
        status = int(rule.get("status", 200))
        headers = []
        if "retry_after" in rule:
            headers.append(("Retry-After", str(rule["retry_after"])))
        try:
            self.answer(status, {"ok": status < 300}, headers)
        except OSError:
            pass


def main():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--log")
    p.add_argument("--secret", default="")
    args = p.parse_args()
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 128
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
