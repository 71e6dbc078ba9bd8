#!/usr/bin/env python3
"""A minimal SMTP server for Kiln's tests (python's smtpd is gone in 3.12).

It speaks enough ESMTP for libcurl (EHLO, optional AUTH PLAIN/LOGIN,
MAIL, RCPT, DATA, RSET, NOOP, QUIT) and appends each message to --log as
one JSON line: {"from", "rcpt": [...], "data", "auth"}. A recipient whose
local part starts with "reject" is refused with 550. The port it listens
on (127.0.0.1, chosen by the kernel) is written to --port-file.
"""
import argparse
import base64
import json
import os
import socketserver
import threading

lock = threading.Lock()
args = None


class Session(socketserver.StreamRequestHandler):
    def say(self, line):
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def line(self):
        raw = self.rfile.readline(65536)
        if not raw:
            raise EOFError
        return raw.rstrip(b"\r\n").decode("utf-8", "replace")

    def handle(self):
        try:
            self.session()
        except (EOFError, OSError):
            pass

    def session(self):
        mail_from, rcpt, auth = None, [], None
        self.say("220 kiln-test ESMTP stub")
        while True:
            cmd = self.line()
            verb = cmd.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.say("250-kiln-test")
                self.say("250-8BITMIME")
                if args.auth:
                    self.say("250-AUTH PLAIN LOGIN")
                self.say("250 SIZE 10485760")
            elif verb == "HELO":
                self.say("250 kiln-test")
            elif verb == "AUTH":
                auth = self.authenticate(cmd)
            elif verb == "MAIL":
                mail_from, rcpt = cmd.split(":", 1)[1].split()[0].strip("<>"), []
                self.say("250 OK")
            elif verb == "RCPT":
                who = cmd.split(":", 1)[1].strip().strip("<>")
                if who.split("@")[0].startswith("reject"):
                    self.say("550 5.1.1 mailbox unavailable")
                else:
                    rcpt.append(who)
                    self.say("250 OK")
            elif verb == "DATA":
                if not rcpt:
                    self.say("503 no valid recipients")
                    continue
                self.say("354 end with <CRLF>.<CRLF>")
                lines = []
                while True:
                    ln = self.line()
                    if ln == ".":
                        break
                    lines.append(ln[1:] if ln.startswith(".") else ln)
                self.record(mail_from, rcpt, "\r\n".join(lines), auth)
                self.say("250 OK queued")
            elif verb in ("RSET", "NOOP"):
                self.say("250 OK")
            elif verb == "QUIT":
                self.say("221 bye")
                return
            else:
                self.say("502 command not implemented")

    def authenticate(self, cmd):
        parts = cmd.split()
        if len(parts) >= 2 and parts[1].upper() == "PLAIN":
            blob = parts[2] if len(parts) > 2 else None
            if blob is None:
                self.say("334 ")
                blob = self.line()
            _, user, pw = base64.b64decode(blob).decode().split("\0")
        else:
            self.say("334 VXNlcm5hbWU6")
            user = base64.b64decode(self.line()).decode()
            self.say("334 UGFzc3dvcmQ6")
            pw = base64.b64decode(self.line()).decode()
        self.say("235 2.7.0 authenticated")
        return [user, pw]

    def record(self, mail_from, rcpt, data, auth):
        rec = {"from": mail_from, "rcpt": rcpt, "data": data, "auth": auth}
        with lock, open(args.log, "a") as f:
            f.write(json.dumps(rec) + "\n")


def main():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--auth", action="store_true")
    args = p.parse_args()
    socketserver.ThreadingTCPServer.daemon_threads = True
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Session)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
