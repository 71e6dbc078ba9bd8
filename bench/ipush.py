#!/usr/bin/env python3
"""bench/ipush.py: CPU instructions per push, counted by callgrind.

Time on this shared machine moves 10-15 % from one minute to the next,
more than most changes to a push's code. Instruction counts do not (this
VM has no hardware counters, so valgrind counts them). This runs
bin/kiln-ingest under callgrind on a FastCGI socket of its own, makes
N servers, pushes the fixture once for each (first pushes: alerts open),
moves their last push a minute back, and pushes again (steady pushes).
Pushes go 8 at a time on 8 connections, so the loop batches them as it
does under load. Prints millions of instructions per push for each
phase, the route's whole process (checkpoint thread included).
  python3 bench/ipush.py [servers, default 400] [--native]
--native runs it without valgrind and prints the process's CPU time per
push instead (user and system, all threads): time, with this host's noise;
and the process's peak resident memory.
IPUSH_KEEP=PREFIX keeps each phase's profile as PREFIX.first and
PREFIX.steady (for callgrind_annotate), and the run's directory (its
stderr in ingest.err).
Needs valgrind, but for --native. Not part of `make test`.
"""
import os
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NATIVE = "--native" in sys.argv
ARGS = [a for a in sys.argv[1:] if a != "--native"]
N = int(ARGS[0]) if ARGS else 400
CONNS = 8


def nv(name, value):
    def length(n):
        return struct.pack("B", n) if n < 128 else struct.pack(">I", n | 1 << 31)
    return length(len(name)) + length(len(value)) + name + value


def record(kind, content, rid=1):
    pad = -len(content) % 8
    return (struct.pack(">BBHHBx", 1, kind, rid, len(content), pad) +
            content + b"\0" * pad)


def request(key, body):
    params = {
        "REQUEST_METHOD": "POST", "REQUEST_URI": "/api/v1/ingest",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": "127.0.0.1",
        "HTTP_AUTHORIZATION": "Bearer " + key,
    }
    out = record(1, struct.pack(">HB5x", 1, 0))
    out += record(4, b"".join(nv(k.encode(), v.encode())
                             for k, v in params.items()))
    out += record(4, b"")
    for i in range(0, len(body), 65535):
        out += record(5, body[i:i + 65535])
    return out + record(5, b"")


def status_of(conn):
    data = b""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    # The first STDOUT record's content starts with "Status: NNN".
    at = data.find(b"Status: ")
    return int(data[at + 8:at + 11]) if at >= 0 else 0


def push_all(sock_path, keys, body):
    codes = {}
    for i in range(0, len(keys), CONNS):
        conns = []
        for key in keys[i:i + CONNS]:
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect(sock_path)
            c.sendall(request(key, body))
            conns.append(c)
        for c in conns:
            code = status_of(c)
            codes[code] = codes.get(code, 0) + 1
            c.close()
    return codes


def cgi(binary, env, body):
    full = dict(os.environ, **env, CONTENT_LENGTH=str(len(body)),
                CONTENT_TYPE="application/json", REMOTE_ADDR="127.0.0.1")
    return subprocess.run([os.path.join(ROOT, "bin", binary)], env=full,
                          input=body, capture_output=True, check=True)


def callgrind_total(path):
    with open(path) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    return 0


def main():
    tmp = tempfile.mkdtemp(prefix="ipush.")
    os.environ.update(KILN_VAR_DIR=tmp, KILN_CONFIG="/dev/null",
                      KILN_KEY_PEPPER="bench-pepper", KILN_LOG_LEVEL="warning",
                      KILN_RATE_INGEST_IP="100000000",
                      KILN_RATE_IP="100000000")
    subprocess.run([os.path.join(ROOT, "bin", "kiln-migrate")], check=True,
                   capture_output=True)
    cgi("kiln-auth", {"REQUEST_METHOD": "POST",
                      "REQUEST_URI": "/api/v1/auth/register"},
        b'{"email":"bench@example.com","password":"bench password 1",'
        b'"name":"Bench"}')
    made = subprocess.run([os.path.join(ROOT, "build", "bench", "mkservers"),
                           "bench@example.com", str(N)], check=True,
                          capture_output=True, text=True).stdout
    keys = [line.split()[1] for line in made.splitlines()]
    with open(os.path.join(ROOT, "tests", "fixtures",
                           "snapshot-debian12-vm.json"), "rb") as f:
        body = f.read()

    sock_path = os.path.join(tmp, "ingest.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(64)
    out = os.path.join(tmp, "callgrind.out")
    command = [os.path.join(ROOT, "bin", "kiln-ingest")]
    if not NATIVE:
        command = ["valgrind", "--tool=callgrind",
                   "--callgrind-out-file=" + out + ".%p", "--dump-instr=no",
                   "--trace-children=yes"] + command
    proc = subprocess.Popen(command,
        stdin=listener.fileno(), stderr=open(os.path.join(tmp, "ingest.err"), "w"))
    listener.close()

    def cpu_seconds():
        fields = 0
        for task in os.listdir("/proc/%d/task" % proc.pid):
            with open("/proc/%d/task/%s/stat" % (proc.pid, task)) as f:
                stat = f.read().rsplit(")", 1)[1].split()
            fields += int(stat[11]) + int(stat[12])
        return fields / os.sysconf("SC_CLK_TCK")

    def native_phase(name):
        before = cpu_seconds()
        codes = push_all(sock_path, keys, body)
        with open("/proc/%d/status" % proc.pid) as f:
            peak = [l.split()[1] for l in f if l.startswith("VmHWM:")][0]
        print("%-7s %7.1f us of CPU per push  (%d pushes: %s; peak RSS %s "
              "KiB)" % (name, (cpu_seconds() - before) / len(keys) * 1e6,
                        len(keys), codes, peak))

    def phase(name):
        if NATIVE:
            return native_phase(name)
        subprocess.run(["callgrind_control", "-z", str(proc.pid)],
                       check=True, capture_output=True)
        codes = push_all(sock_path, keys, body)
        subprocess.run(["callgrind_control", "-d", name, str(proc.pid)],
                       check=True, capture_output=True)
        time.sleep(0.5)
        dumps = sorted((p for p in os.listdir(tmp)
                        if p.startswith("callgrind.out")),
                       key=lambda p: os.path.getmtime(os.path.join(tmp, p)))
        total = callgrind_total(os.path.join(tmp, dumps[-1]))
        if os.environ.get("IPUSH_KEEP"):
            subprocess.run(["cp", os.path.join(tmp, dumps[-1]),
                            os.environ["IPUSH_KEEP"] + "." + name])
        print("%-7s %7.3f M instructions per push  (%d pushes: %s)" % (
            name, total / len(keys) / 1e6, len(keys), codes))

    # Let the process (under valgrind, slowly) start.
    time.sleep(2)
    phase("first")
    db = sqlite3.connect(os.path.join(tmp, "kiln.db"))
    db.execute("UPDATE server SET last_ingest_ms = last_ingest_ms - 60000")
    db.commit()
    db.close()
    phase("steady")
    proc.terminate()
    proc.wait()
    if not os.environ.get("IPUSH_KEEP"):
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
