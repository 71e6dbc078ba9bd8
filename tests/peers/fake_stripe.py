#!/usr/bin/env python3
"""A fake of the few Stripe API calls Kiln makes, for tests/billing.t.

    fake_stripe.py --port PORT --key SECRET_KEY

Listens on 127.0.0.1:PORT (chosen by the test) and prints "ready" once
it does. Implements, form-encoded as Stripe's API is:

    POST /v1/customers                  (replays an Idempotency-Key)
    POST /v1/checkout/sessions
    POST /v1/billing_portal/sessions
    POST /v1/subscriptions/:id          (only ids made with /_subscription)

and answers a wrong Bearer key with Stripe's 401. The test drives it with:

    GET  /_requests       every /v1 request so far, as JSON
    POST /_reset          forget them (and any failure queued)
    POST /_fail           {"status": 402, "message": "...", "count": 1}:
                          the next count /v1 requests get that error
    POST /_subscription   {"id", "customer", "current_period_end",
                          "items_api": true puts the period end on the
                          items, as API versions since 2025-03-31 do}
"""
import argparse
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
state = {"requests": [], "fail": None, "subs": {}, "idem": {}, "n": 0}


def error(status, message, kind="invalid_request_error"):
    return status, {"error": {"type": kind, "message": message}}


def need(form, *names):
    for n in names:
        if not form.get(n):
            return error(400, "Missing required param: %s." % n)
    return None


def subscription(sub):
    out = {"id": sub["id"], "object": "subscription", "status": "active",
           "customer": sub["customer"],
           "cancel_at_period_end": sub["cancel_at_period_end"],
           "items": {"object": "list", "data": [
               {"id": "si_" + sub["id"], "object": "subscription_item"}]}}
    if sub.get("items_api"):
        out["items"]["data"][0]["current_period_end"] = \
            sub["current_period_end"]
    else:
        out["current_period_end"] = sub["current_period_end"]
    return out


def stripe(method, path, form, headers):
    """One /v1 call: (status, body)."""
    state["n"] += 1
    n = state["n"]
    if method != "POST":
        return error(405, "Unrecognized request URL (%s: %s)." %
                     (method, path))
    if path == "/v1/customers":
        key = headers.get("idempotency-key")
        if key and key in state["idem"]:
            return 200, state["idem"][key]
        body = {"id": "cus_fake%04d" % n, "object": "customer",
                "email": form.get("email"),
                "invoice_settings": {"default_payment_method": None}}
        if key:
            state["idem"][key] = body
        return 200, body
    if path == "/v1/checkout/sessions":
        e = need(form, "mode", "customer", "line_items[0][price]",
                 "success_url", "cancel_url")
        if e:
            return e
        sid = "cs_test_fake%04d" % n
        return 200, {"id": sid, "object": "checkout.session",
                     "mode": form["mode"], "customer": form["customer"],
                     "url": "https://checkout.stripe.test/c/pay/" + sid}
    if path == "/v1/billing_portal/sessions":
        e = need(form, "customer")
        if e:
            return e
        sid = "bps_fake%04d" % n
        return 200, {"id": sid, "object": "billing_portal.session",
                     "customer": form["customer"],
                     "return_url": form.get("return_url"),
                     "url": "https://billing.stripe.test/p/session/" + sid}
    if path.startswith("/v1/subscriptions/"):
        sub = state["subs"].get(path[len("/v1/subscriptions/"):])
        if sub is None:
            return error(404, "No such subscription: '%s'" %
                         path[len("/v1/subscriptions/"):])
        if "cancel_at_period_end" in form:
            sub["cancel_at_period_end"] = \
                form["cancel_at_period_end"] == "true"
        return 200, subscription(sub)
    return error(404, "Unrecognized request URL (POST: %s)." % path)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace")
        path = self.path.split("?", 1)[0]
        with lock:
            if path == "/_requests":
                return self.answer(200, state["requests"])
            if path == "/_reset":
                state["requests"] = []
                state["fail"] = None
                return self.answer(200, {})
            if path == "/_fail":
                state["fail"] = json.loads(raw)
                return self.answer(200, {})
            if path == "/_subscription":
                sub = json.loads(raw)
                sub.setdefault("cancel_at_period_end", False)
                state["subs"][sub["id"]] = sub
                return self.answer(200, {})
            form = dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))
            headers = {k.lower(): v for k, v in self.headers.items()}
            state["requests"].append({
                "method": method, "path": path, "form": form, "raw": raw,
                "authorization": headers.get("authorization"),
                "content_type": headers.get("content-type"),
                "idempotency_key": headers.get("idempotency-key")})
            fail = state["fail"]
            if fail and fail.get("count", 1) > 0:
                fail["count"] = fail.get("count", 1) - 1
                return self.answer(*error(fail.get("status", 400),
                                          fail.get("message", "Failed."),
                                          "card_error"))
            if headers.get("authorization") != "Bearer " + args.key:
                return self.answer(*error(
                    401, "Invalid API Key provided: %s" %
                    (headers.get("authorization") or "")[-4:]))
            return self.answer(*stripe(method, path, form, headers))

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")


parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--key", required=True)
args = parser.parse_args()
server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
print("ready", flush=True)
server.serve_forever()
