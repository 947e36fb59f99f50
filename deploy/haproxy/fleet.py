#!/usr/bin/env python3
"""The fleet test: three Ferrox instances behind HAProxy on loopback.

HAProxy balances a bounded load (a fixed request rate for a fixed time) over
three instances, sending PROXY v2 and checking /health/ready on each admin
listener. Meanwhile the instances are restarted one after another (SIGTERM,
then started again) and then reloaded (SIGHUP). The test asserts:

- zero failed or reset requests at the client;
- no connection error, response error, retry or redispatch in HAProxy's own
  counters, and no 5xx;
- every instance serves the same ETag for the same file (--etag content);
- the access logs carry the load generator's address (127.0.0.2) from the
  PROXY header, not HAProxy's;
- HAProxy marked each instance down while it was still accepting.

It prints its figures and exits non-zero when an assertion fails.
Usage: deploy/haproxy/fleet.py [--ferrox target/debug/ferrox] [--rate 800] [--seconds N]
"""

import argparse
import csv
import http.client
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CLIENT_ADDRESS = "127.0.0.2"
FILES = {
    "/index.html": b"<!doctype html><title>fleet</title><p>hello</p>\n",
    "/big.bin": os.urandom(1 << 20),
    "/data/a.json": b'{"a": 1}\n' * 200,
}


def log(*args):
    print("fleet:", *args, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepting(port):
    """Whether a TCP connection to the port is accepted right now."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Instance:
    def __init__(self, name, binary, root, work):
        self.name, self.binary, self.root = name, binary, root
        self.port, self.admin = free_port(), free_port()
        self.access_log = work / f"{name}-access.log"
        self.stderr_path = work / f"{name}-stderr.log"
        self.proc = None

    def start(self):
        stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(
            [self.binary, str(self.root), "-l", f"127.0.0.1:{self.port}",
             "--admin", f"127.0.0.1:{self.admin}", "--drain-delay", "1500ms",
             "--proxy-protocol", "--etag", "content", "--access-log", str(self.access_log),
             "--shutdown-timeout", "10s", "--log-level", "warn"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 15
        while not accepting(self.admin):
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited at start-up: see {self.stderr_path}")
            if time.monotonic() > deadline:
                raise SystemExit(f"{self.name}: admin listener not up in 15 s")
            time.sleep(0.02)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        return self.proc.wait(timeout=timeout)


class HAProxy:
    def __init__(self, instances, work):
        self.front = free_port()
        self.socket = work / "haproxy.sock"
        servers = "\n".join(
            f"    server {i.name} 127.0.0.1:{i.port} check port {i.admin}" for i in instances)
        text = (HERE / "haproxy.cfg.in").read_text()
        text = (text.replace("@STATS_SOCKET@", str(self.socket))
                    .replace("@FRONT_PORT@", str(self.front))
                    .replace("@SERVERS@", servers))
        self.config = work / "haproxy.cfg"
        self.config.write_text(text)
        check = subprocess.run(["haproxy", "-c", "-f", str(self.config)], capture_output=True, text=True)
        if check.returncode != 0:
            raise SystemExit(f"haproxy -c: {check.stdout}{check.stderr}")
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", str(self.config)],
                                     stdout=subprocess.DEVNULL, stderr=open(work / "haproxy.log", "wb"))

    def stats(self):
        """HAProxy's `show stat`, one dict per proxy/server line."""
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.socket))
            s.sendall(b"show stat\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        text = data.decode().lstrip("# ")
        return list(csv.DictReader(io.StringIO(text)))

    def status(self, name):
        try:
            rows = self.stats()
        except OSError:  # not listening yet
            return None
        for row in rows:
            if row["pxname"] == "instances" and row["svname"] == name:
                return row["status"]
        return None

    def wait_status(self, name, want, timeout):
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(name)
            if status is not None and status.startswith(want):
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"{name}: HAProxy says {status!r}, not {want} after {timeout} s")
            time.sleep(0.02)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Load:
    """Worker threads, each with a keep-alive connection to HAProxy from
    CLIENT_ADDRESS, together sending `rate` requests a second."""

    def __init__(self, port, rate, workers=8):
        self.port, self.interval, self.workers = port, workers / rate, workers
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.requests = 0
        self.failures = []
        self.longest = 0.0
        self.etags = {}  # path -> {etag -> set of servers}
        self.threads = [threading.Thread(target=self.run, args=(n,)) for n in range(workers)]

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join()

    def run(self, n):
        paths = list(FILES)
        conn = None
        i = n
        next_at = time.monotonic()
        while not self.stop.is_set():
            next_at += self.interval
            path = paths[i % len(paths)]
            i += 1
            started = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10,
                                                      source_address=(CLIENT_ADDRESS, 0))
                conn.request("GET", path)
                resp = conn.getresponse()
                body = resp.read()
                took = time.monotonic() - started
                ok = resp.status == 200 and body == FILES[path]
                with self.lock:
                    self.requests += 1
                    self.longest = max(self.longest, took)
                    if not ok:
                        self.failures.append(f"{path}: {resp.status}, {len(body)} bytes")
                    server = resp.getheader("x-fleet-server", "?")
                    tags = self.etags.setdefault(path, {})
                    tags.setdefault(resp.getheader("etag"), set()).add(server)
                if resp.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                with self.lock:
                    self.requests += 1
                    self.failures.append(f"{path}: {type(e).__name__}: {e}")
                if conn is not None:
                    conn.close()
                conn = None
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ferrox", default=str(REPO / "target" / "debug" / "ferrox"))
    ap.add_argument("--rate", type=int, default=2000, help="requests a second asked for (default 2000)")
    args = ap.parse_args()
    if shutil.which("haproxy") is None:
        raise SystemExit("haproxy is not installed (Debian: apt-get install haproxy)")
    work = Path(tempfile.mkdtemp(prefix="ferrox-fleet-"))
    root = work / "site"
    for path, body in FILES.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
    instances = [Instance(f"ferrox{n}", args.ferrox, root, work) for n in range(3)]
    haproxy = None
    problems = []
    try:
        for i in instances:
            i.start()
        haproxy = HAProxy(instances, work)
        for i in instances:
            haproxy.wait_status(i.name, "UP", 15)
        load = Load(haproxy.front, args.rate)
        started = time.monotonic()
        load.start()
        time.sleep(1)
        for i in instances:
            log(f"restart {i.name}")
            i.signal(signal.SIGTERM)
            haproxy.wait_status(i.name, "DOWN", 10)
            if not accepting(i.port):
                problems.append(f"{i.name} stopped accepting before HAProxy marked it down")
            code = i.wait(timeout=20)
            if code != 0:
                problems.append(f"{i.name} exited {code} after SIGTERM")
            i.start()
            haproxy.wait_status(i.name, "UP", 15)
            time.sleep(0.5)
        for i in instances:
            log(f"reload {i.name}")
            i.signal(signal.SIGHUP)
            time.sleep(0.5)
            if not haproxy.status(i.name).startswith("UP"):
                problems.append(f"{i.name} left the pool on SIGHUP: {haproxy.status(i.name)}")
        time.sleep(1)
        load.finish()
        elapsed = time.monotonic() - started

        print(f"requests: {load.requests} in {elapsed:.1f} s ({load.requests / elapsed:.0f}/s)")
        print(f"failures at the client: {len(load.failures)}")
        print(f"longest request: {load.longest * 1000:.1f} ms")
        for failure in load.failures[:10]:
            problems.append(f"client: {failure}")
        if load.requests < args.rate * elapsed * 0.5:
            problems.append(f"only {load.requests} requests: the load did not run")

        for row in haproxy.stats():
            if row["pxname"] != "instances" or row["svname"] == "FRONTEND":
                continue
            counters = {k: int(row[k] or 0) for k in ("econ", "eresp", "wretr", "wredis", "hrsp_5xx")}
            print(f"haproxy {row['svname']}: {row['stot']} sessions, {counters}")
            for key, value in counters.items():
                if value:
                    problems.append(f"haproxy {row['svname']}: {key} = {value}")

        for path, tags in sorted(load.etags.items()):
            servers = set().union(*tags.values())
            print(f"{path}: {len(tags)} ETag(s) from {sorted(servers)}")
            if len(tags) != 1:
                problems.append(f"{path}: {len(tags)} different ETags: {sorted(map(str, tags))}")
            elif len(servers - {"BACKEND", "?"}) < 3:
                problems.append(f"{path}: answered by {sorted(servers)} only")
            elif not next(iter(tags)).startswith('"c-'):
                problems.append(f"{path}: not a content tag: {next(iter(tags))}")

        lines = 0
        for i in instances:
            for line in i.access_log.read_text().splitlines():
                lines += 1
                if not line.startswith(CLIENT_ADDRESS + " "):
                    problems.append(f"{i.name} access log: {line[:80]!r} is not from {CLIENT_ADDRESS}")
                    break
        print(f"access-log lines: {lines}, every one from {CLIENT_ADDRESS}" if lines else "no access-log lines")
        if lines < load.requests * 0.9:
            problems.append(f"{lines} access-log lines for {load.requests} requests")
    finally:
        for i in instances:
            if i.proc and i.proc.poll() is None:
                i.proc.kill()
        if haproxy:
            haproxy.stop()
    if problems:
        for p in problems:
            print(f"FAIL: {p}")
        print(f"(logs kept in {work})")
        sys.exit(1)
    shutil.rmtree(work, ignore_errors=True)
    print("fleet: ok")


if __name__ == "__main__":
    main()
