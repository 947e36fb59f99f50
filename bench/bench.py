#!/usr/bin/env python3
"""Load benchmark: ferrox against nginx and lighttpd on loopback.

The same fixture folder is served by all three; runs are interleaved
(ferrox, nginx, lighttpd, ferrox, ...) for several rounds and medians are
reported with the ferrox/nginx ratio (the median of per-round ratios). Server
CPU time per request comes from /proc (wrk shares the machine's cores), memory
from the servers' RSS; samples the hypervisor stole from are taken again.

Run it through bench/run, which installs the tools and builds ferrox.
"""

import argparse
import datetime
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = Path(os.environ.get("FERROX_BENCH_DIR", "/tmp/ferrox-bench"))
SITE = WORK / "site"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

# (name, path, connections, extra wrk args, metric): the scenarios.
SCENARIOS = [
    ("1 KiB, 64 conns", "/1k.html", 64, [], "rps"),
    ("1 KiB, 256 conns", "/1k.html", 256, [], "rps"),
    ("64 KiB, 64 conns", "/64k.bin", 64, [], "rps"),
    ("100 MiB, 4 conns", "/100m.bin", 4, [], "mbps"),
    ("new conn per request", "/1k.html", 64, ["-H", "Connection: close"], "rps"),
    ("1,000-entry listing", "/dir/", 64, [], "rps"),
    ("404", "/missing.html", 64, [], "rps"),
]
# HTTPS rows: (name, client, paths, connections, metric). Each server's cap on
# requests per connection is raised out of the way (nginx keepalive_requests,
# lighttpd max-keep-alive-requests, ferrox --max-requests-per-connection 0):
# h2load does not reconnect in duration mode, so a cap measures the cap.
PAGE_LOAD = ["/page/index.html", "/page/style.css", "/page/app.js"] + [f"/page/img-{i:02d}.png" for i in range(12)]
TLS_SCENARIOS = [
    ("HTTPS h1 1 KiB (wrk)", "wrk", ["/1k.html"], 64, "rps"),
    ("HTTPS h2 1 KiB, 10 streams (h2load)", "h2load-m10", ["/1k.html"], 64, "rps"),
    ("HTTPS h2 64 KiB, 10 streams", "h2load-m10", ["/64k.bin"], 64, "rps"),
    ("HTTPS h2 page load, 100 streams", "h2load-m100", PAGE_LOAD, 16, "rps"),
    ("HTTPS h1 100 MiB (wrk, 4 conns)", "wrk", ["/100m.bin"], 4, "mbps"),
    ("HTTPS h2 100 MiB (h2load, 4 conns)", "h2load-m1", ["/100m.bin"], 4, "mbps"),
]
IDLE_CONNECTIONS = 5000


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def make_fixtures():
    SITE.mkdir(parents=True, exist_ok=True)
    (SITE / "1k.html").write_bytes(b"<!doctype html>" + b"x" * (1024 - 16) + b"\n")
    (SITE / "64k.bin").write_bytes(os.urandom(64 * 1024))
    big = SITE / "100m.bin"
    if not big.exists() or big.stat().st_size != 100 * 1024 * 1024:
        with open(big, "wb") as f:
            for _ in range(100):
                f.write(os.urandom(1024 * 1024))
    # A page load: HTML, CSS, JS and a dozen images of mixed sizes.
    page = SITE / "page"
    page.mkdir(exist_ok=True)
    sizes = {"index.html": 18_000, "style.css": 30_000, "app.js": 110_000}
    sizes.update({f"img-{i:02d}.png": 4_000 + i * 5_000 for i in range(12)})
    for name, size in sizes.items():
        p = page / name
        if not p.exists() or p.stat().st_size != size:
            p.write_bytes(os.urandom(size))
    d = SITE / "dir"
    d.mkdir(exist_ok=True)
    for i in range(1000):
        p = d / f"file-{i:04d}.txt"
        if not p.exists():
            p.write_bytes(b"x" * (i % 97 + 1))
    cert, key = WORK / "cert.pem", WORK / "key.pem"
    if not cert.exists():
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-days", "30", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True)
    return cert, key


def write_sites_config(count):
    """A configuration of `count` sites on the same folder; the one in the
    middle is named 127.0.0.1, the host wrk sends, so every request is looked
    up among all of them."""
    path = WORK / f"sites-{count}.toml"
    lines = []
    for i in range(count):
        host = "127.0.0.1" if i == count // 2 else f"site{i}.bench.test"
        lines += ["[[site]]", f'hosts = ["{host}"]', f'root = "{SITE}"', ""]
    path.write_text("\n".join(lines))
    return path


# Twenty routes of a real site, none of which takes the benchmark's files.
TWENTY_ROUTES = [
    ('/blog/**', 'redirect = { to = "https://blog.example.com/{1}", status = 308 }'),
    ('/docs/**', 'try_files = ["{path}", "{path}.html", "=404"]'),
    ('/app/**', 'spa = true'),
    ('/healthz', 'respond = { status = 200, body = "ok" }'),
    ('/api/**', 'respond = { status = 404, body = "no api here" }'),
    ('/old/*.php', 'redirect = { to = "/new/{1}.html", status = 301 }'),
    ('/**/*.bak', 'respond = { status = 404, body = "gone" }'),
    ('/wp-admin/**', 'respond = { status = 404, body = "no" }'),
    ('/.well-known/security.txt', 'respond = { status = 200, body = "Contact: mailto:security@example.com" }'),
    ('/assets/**', 'headers = { set = { "Cache-Control" = "public, max-age=31536000, immutable" } }'),
    ('/downloads/**', 'headers = { set = { "Content-Disposition" = "attachment" } }'),
    ('/fonts/*.{woff,woff2}', 'cors = { origins = "*" }'),
    ('/about', 'rewrite = "/about.html"'),
    ('/{team,people}/**', 'try_files = ["{path}.html", "=404"]'),
    ('/feed', 'redirect = { to = "/feed.xml", status = 301 }'),
    ('/rss', 'redirect = { to = "/feed.xml", status = 301 }'),
    ('/2019/**', 'redirect = { to = "/archive/2019/{1}", status = 308 }'),
    ('/2020/**', 'redirect = { to = "/archive/2020/{1}", status = 308 }'),
    ('/private/**', 'allow = ["10.0.0.0/8"]'),
    ('/**/*.map', 'deny = ["0.0.0.0/0", "::/0"]'),
]


def write_routes_config(kind):
    """One site on the benchmark folder: with no routes ("none"), the twenty
    above ("twenty"), or the twenty and then one that takes the benchmark's
    files with a header modifier ("match")."""
    path = WORK / f"routes-{kind}.toml"
    lines = ["[[site]]", f'root = "{SITE}"', ""]
    routes = [] if kind == "none" else list(TWENTY_ROUTES)
    if kind == "match":
        routes.append(('/*.html', 'headers = { set = { "X-Frame-Options" = "DENY" } }'))
    for glob, rule in routes:
        lines += ["[[site.route]]", f'path = "{glob}"', rule, ""]
    path.write_text("\n".join(lines))
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


class Server:
    """One server under test: start, stop, its processes' CPU and memory."""

    def __init__(self, name, port, tls_port, threads):
        self.name, self.port, self.tls_port, self.threads = name, port, tls_port, threads
        self.procs = []

    def pids(self):
        """The main process and its children (nginx's workers)."""
        roots = [p.pid for p in self.procs if p.poll() is None]
        out = list(roots)
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                    ppid = int(stat[stat.rfind(")") + 2:].split()[1])
                    if ppid in roots:
                        out.append(int(entry.name))
                except (OSError, ValueError, IndexError):
                    pass
        return out

    def cpu_seconds(self):
        return sum(self.cpu_split())

    def cpu_split(self):
        """(user, system) CPU seconds of the server's processes."""
        user = system = 0
        for pid in self.pids():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
                fields = stat[stat.rfind(")") + 2:].split()
                user += int(fields[11])
                system += int(fields[12])
            except (OSError, ValueError, IndexError):
                pass
        return user / CLK_TCK, system / CLK_TCK

    def rss_bytes(self):
        total = 0
        for pid in self.pids():
            try:
                total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
            except (OSError, ValueError, IndexError):
                pass
        return total

    # Servers run in sessions of their own: lighttpd with max-worker answers
    # SIGTERM with kill(0, SIGTERM), which would reach the benchmark itself.
    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        self.procs = []


class Ferrox(Server):
    """Plain HTTP; HTTPS is a second process (FerroxTls), started only for the
    HTTPS rows so that it does not count in ferrox's memory. `binary` and
    `extra` let a candidate build or option set run beside the shipped one."""

    binary = REPO / "target" / "release" / "ferrox"
    extra = ()
    # A configuration file instead of the folder (the many-sites row).
    config = None

    def start(self, cert, key):
        what = ["--config", str(self.config)] if self.config else [str(SITE)]
        self.procs = [subprocess.Popen([self.binary, *what, "--quiet", "--log-level", "warn",
                                        "--max-requests-per-connection", "0",
                                        "-l", f"127.0.0.1:{self.port}", *self.extra],
                                       stderr=subprocess.DEVNULL, start_new_session=True)]
        wait_port(self.port)


class FerroxTls(Server):
    """The HTTPS server; with --candidate a second one runs that build."""

    binary = REPO / "target" / "release" / "ferrox"
    extra = ()

    def start(self, cert, key):
        self.procs = [subprocess.Popen([self.binary, str(SITE), "--quiet", "--log-level", "warn",
                                        "--max-requests-per-connection", "0",
                                        "-l", f"127.0.0.1:{self.tls_port}",
                                        "--tls-cert", str(cert), "--tls-key", str(key), *self.extra],
                                       stderr=subprocess.DEVNULL, start_new_session=True)]
        wait_port(self.tls_port)


class Nginx(Server):
    def start(self, cert, key):
        conf_dir = WORK / "nginx"
        conf_dir.mkdir(exist_ok=True)
        conf = conf_dir / "nginx.conf"
        conf.write_text(f"""
worker_processes {self.threads};
worker_rlimit_nofile 65536;
pid {conf_dir}/nginx.pid;
error_log {conf_dir}/error.log crit;
daemon off;
events {{ worker_connections 20000; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 60s;
    # Out of the way: a per-connection cap would be what h2load measures.
    keepalive_requests 10000000;
    open_file_cache max=10000 inactive=60s;
    open_file_cache_valid 30s;
    open_file_cache_errors on;
    client_body_temp_path {conf_dir}/body;
    proxy_temp_path {conf_dir}/proxy;
    fastcgi_temp_path {conf_dir}/fastcgi;
    uwsgi_temp_path {conf_dir}/uwsgi;
    scgi_temp_path {conf_dir}/scgi;
    server {{
        listen 127.0.0.1:{self.port};
        root {SITE};
        autoindex on;
    }}
    server {{
        listen 127.0.0.1:{self.tls_port} ssl http2;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {SITE};
        autoindex on;
    }}
}}
""")
        self.procs = [subprocess.Popen(["nginx", "-c", str(conf), "-p", str(conf_dir)], stderr=subprocess.DEVNULL, start_new_session=True)]
        wait_port(self.port)
        wait_port(self.tls_port)


class Lighttpd(Server):
    def start(self, cert, key):
        conf_dir = WORK / "lighttpd"
        conf_dir.mkdir(exist_ok=True)
        conf = conf_dir / "lighttpd.conf"
        conf.write_text(f"""
server.document-root = "{SITE}"
server.bind = "127.0.0.1"
server.port = {self.port}
server.max-worker = {self.threads}
server.max-fds = 65536
server.max-connections = 20000
server.max-keep-alive-requests = 10000000
server.network-backend = "sendfile"
server.modules += ("mod_dirlisting")
dir-listing.activate = "enable"
index-file.names = ("index.html")
include_shell "/usr/share/lighttpd/create-mime.conf.pl"
""")
        self.procs = [subprocess.Popen(["lighttpd", "-D", "-f", str(conf)], stderr=subprocess.DEVNULL, start_new_session=True)]
        wait_port(self.port)


class Ceiling(Server):
    """bench/ceiling.c: a fixed 1 KiB response per request head, no parsing, no
    files. Run in the 1 KiB keep-alive rows as the most this machine gives."""

    def start(self, cert, key):
        self.procs = [subprocess.Popen([REPO / "target" / "ceiling", str(self.port), str(self.threads)],
                                       stderr=subprocess.DEVNULL, start_new_session=True)]
        wait_port(self.port)


class Probe(Server):
    """bench/probe: ferrox's own parser, handler and head encoder in a bare
    epoll loop per core (no tokio). Run with --probe in the 1 KiB keep-alive
    rows: what ferrox reaches of it is what its engine costs."""

    binary = REPO / "target" / "release" / "ferrox-engine-probe"

    def start(self, cert, key):
        self.procs = [subprocess.Popen([self.binary, str(SITE), str(self.port), str(self.threads)],
                                       stderr=subprocess.DEVNULL, start_new_session=True)]
        wait_port(self.port)


def ceiling_applies(scenario):
    _name, path, _conns, extra, _metric = scenario
    return path == "/1k.html" and not extra


def wrk(url, conns, duration, extra):
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--timeout", "5s",
           "-s", str(HERE / "report.lua"), *extra, url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    line = [l for l in out.stdout.splitlines() if l.startswith("{")]
    if not line:
        raise RuntimeError(f"wrk failed: {out.stdout} {out.stderr}")
    return json.loads(line[-1])


def h2load(urls, conns, duration, streams=10):
    """h2load over TLS (ALPN h2) in duration mode; a run with failed or errored
    requests is reported as such (and marked invalid in the table)."""
    if isinstance(urls, str):
        urls = [urls]
    cmd = ["h2load", f"-c{conns}", f"-m{streams}", "-t1", f"-D{duration}", *urls]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    req = mbps = 0.0
    errors = done = 0
    for l in out.stdout.splitlines():
        if l.startswith("finished in"):
            # finished in 5.00s, 12345.67 req/s, 12.34MB/s
            parts = l.split(",")
            req = float(parts[1].split()[0])
            rate = parts[2].strip()
            unit = {"GB/s": 1000.0, "MB/s": 1.0, "KB/s": 0.001, "B/s": 0.000001}
            for suffix, factor in unit.items():
                if rate.endswith(suffix):
                    mbps = float(rate[: -len(suffix)]) * factor
                    break
        if l.startswith("requests:"):
            # requests: N total, N started, N done, N succeeded, N failed, N errored, N timeout
            fields = {f.split()[1]: int(f.split()[0]) for f in l[len("requests:"):].split(",")}
            errors = fields.get("failed", 0) + fields.get("errored", 0) + fields.get("timeout", 0)
            done = fields.get("done", 0)
    if req == 0:
        raise RuntimeError(f"h2load failed: {out.stdout[-500:]} {out.stderr[-500:]}")
    return {"rps": req, "mbps": mbps, "errors": errors, "requests": done}


def client_cpu_seconds():
    """CPU seconds of the benchmark's finished children: wrk and h2load."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def tls_measure(server, port, scenario, duration):
    """One HTTPS row against `server` on `port`: req/s or MB/s, errors, and
    the CPU the server and the client spent per request (a client that uses
    a whole core is what the row measures, whatever the server)."""
    _name, client, paths, conns, _metric = scenario
    urls = [f"https://127.0.0.1:{port}{p}" for p in paths]

    def once():
        server0, client0 = server.cpu_seconds(), client_cpu_seconds()
        if client == "wrk":
            res = wrk(urls[0], conns, duration, [])
            secs = res["duration_us"] / 1e6
            errors = sum(res.get(k, 0) for k in ("connect_errors", "read_errors", "write_errors",
                                                 "status_errors", "timeouts"))
            out = {"rps": res["requests"] / secs, "mbps": res["bytes"] / secs / 1e6, "errors": errors,
                   "requests": res["requests"]}
        else:
            out = h2load(urls, conns, duration, int(client.rsplit("-m", 1)[1]))
        requests = max(out["requests"], 1)
        out["cpu_us_per_req"] = (server.cpu_seconds() - server0) / requests * 1e6
        out["client_us_per_req"] = (client_cpu_seconds() - client0) / requests * 1e6
        return out
    return least_stolen(once)


def host_ticks():
    """(all CPU ticks, steal ticks, idle ticks) of the whole machine, from
    /proc/stat (idle counts iowait too)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = sum(fields[3:5])
    return sum(fields[:8]), fields[7] if len(fields) > 7 else 0, idle


# A sample during which the hypervisor took more than this share of the
# machine measured the neighbours, not the server: it is taken again (at most
# STEAL_RETRIES times) and the least-stolen attempt is kept. Set by --max-steal.
MAX_STEAL = 0.01
STEAL_RETRIES = 2


def idle_share(results, server, scenario):
    """The median share of the cores idle during `server`'s runs of `scenario`."""
    runs = results.get(server, {}).get(scenario, [])
    return f"{median([r.get('idle', float('nan')) for r in runs]):.0%}" if runs else "-"


def least_stolen(take):
    """Runs `take()` until a sample loses at most MAX_STEAL of the machine to
    steal; returns the least-stolen one, with its steal share and attempt count."""
    best = None
    for attempt in range(1, STEAL_RETRIES + 2):
        t0, s0, i0 = host_ticks()
        sample = take()
        t1, s1, i1 = host_ticks()
        sample["steal"] = (s1 - s0) / max(t1 - t0, 1)
        # The share of both cores that sat idle during the run.
        sample["idle"] = (i1 - i0) / max(t1 - t0, 1)
        if best is None or sample["steal"] < best["steal"]:
            best = sample
        if sample["steal"] <= MAX_STEAL:
            break
    best["attempts"] = attempt
    return best


def measure(server, scenario, duration, url_port=None):
    return least_stolen(lambda: measure_once(server, scenario, duration, url_port))


def measure_once(server, scenario, duration, url_port=None):
    name, path, conns, extra, _metric = scenario
    port = url_port or server.port
    (user0, sys0), rss_idle = server.cpu_split(), server.rss_bytes()
    result = wrk(f"http://127.0.0.1:{port}{path}", conns, duration, extra)
    user1, sys1 = server.cpu_split()
    requests = max(result["requests"], 1)
    secs = result["duration_us"] / 1e6
    errors = sum(result[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts"))
    if path == "/missing.html":
        errors -= result["status_errors"]  # 404 is the expected status
    return {
        "rps": result["requests"] / secs,
        "mbps": result["bytes"] / secs / 1e6,
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "cpu_us_per_req": (user1 - user0 + sys1 - sys0) / requests * 1e6,
        "user_us_per_req": (user1 - user0) / requests * 1e6,
        "errors": errors,
        "rss_idle": rss_idle,
    }


def measure_under_load(server, duration):
    """RSS while 256 connections hammer the 1 KiB file."""
    proc = subprocess.Popen(["wrk", "-t1", "-c256", f"-d{duration}s", f"http://127.0.0.1:{server.port}/1k.html"],
                            stdout=subprocess.DEVNULL)
    time.sleep(duration / 2)
    rss = server.rss_bytes()
    proc.wait()
    return rss


def measure_idle_connections(server, count):
    """RSS per idle keep-alive connection: open `count`, one request each, hold."""
    socks = []
    time.sleep(0.5)
    before = server.rss_bytes()
    request = b"GET /1k.html HTTP/1.1\r\nHost: bench\r\n\r\n"
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", server.port))
        s.sendall(request)
        socks.append(s)
    for s in socks:
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    time.sleep(1.0)
    after = server.rss_bytes()
    for s in socks:
        s.close()
    return before, after, (after - before) / count


def make_text_fixtures():
    """A JSON document and a JavaScript bundle, generated, for the compression rows."""
    d = WORK / "text"
    d.mkdir(exist_ok=True)
    items = [{"id": i, "name": f"user-{i}", "email": f"user{i}@example.com", "active": i % 3 == 0,
              "score": (i * 7919) % 1000 / 10, "tags": ["alpha", "beta", "gamma"][: i % 3 + 1]}
             for i in range(16000)]
    (d / "big.json").write_text(json.dumps(items))
    lines = [f"export function handler{i}(event, ctx) {{ const v = event.value * {i % 97} + ctx.offset; "
             f"if (v > {i % 1000}) {{ return render('item-{i}', v); }} return null; }}\n" for i in range(8000)]
    (d / "bundle.js").write_text("".join(lines))
    return d


def body_size(port, path, coding):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Accept-Encoding": coding})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return len(data), resp.getheader("Content-Encoding")


def compression_report(duration):
    """Bytes saved and server CPU per response for each coding, compressed on
    the fly with the cache off; then the sizes `ferrox precompress` writes."""
    d = make_text_fixtures()
    binary = REPO / "target" / "release" / "ferrox"
    port = free_port()
    srv = Server("ferrox-compress", port, None, 0)
    srv.procs = [subprocess.Popen([binary, str(d), "--quiet", "--log-level", "warn", "-l", f"127.0.0.1:{port}",
                                   "--compress-cache-size", "0", "--no-precompressed"],
                                  stderr=subprocess.DEVNULL, start_new_session=True)]
    rows = []
    try:
        wait_port(port)
        for name in ("big.json", "bundle.js"):
            original = (d / name).stat().st_size
            for coding in ("br", "zstd", "gzip"):
                size, got = body_size(port, f"/{name}", coding)
                cpu0 = srv.cpu_seconds()
                res = wrk(f"http://127.0.0.1:{port}/{name}", 2, duration, ["-H", f"Accept-Encoding: {coding}"])
                cpu = srv.cpu_seconds() - cpu0
                per = cpu / max(res["requests"], 1)
                rows.append({"file": name, "original": original, "coding": got, "size": size,
                             "cpu_ms": per * 1000, "mb_per_cpu_s": original / per / 1e6 if per else float("nan")})
                log(f"compression  {name} {coding}: {size} bytes, {per * 1000:.1f} ms CPU")
    finally:
        srv.stop()
    pre = WORK / "text-pre"
    if pre.exists():
        shutil.rmtree(pre)
    shutil.copytree(d, pre)
    t0 = time.time()
    subprocess.run([binary, "precompress", str(pre)], check=True, capture_output=True)
    elapsed = time.time() - t0
    sidecars = {}
    for name in ("big.json", "bundle.js"):
        for suffix in (".br", ".zst", ".gz"):
            p = pre / f"{name}{suffix}"
            sidecars[f"{name}{suffix}"] = p.stat().st_size if p.exists() else None
    return {"on_the_fly": rows, "precompress_seconds": elapsed, "sidecars": sidecars}


def steal_summary(results, max_steal_pct):
    """One line on hypervisor steal: how many samples were retaken, and how much was left."""
    kept = [run for per_server in results.values() for runs in per_server.values() for run in runs]
    if not kept:
        return ""
    retaken = sum(1 for run in kept if run["attempts"] > 1)
    over = sum(1 for run in kept if run["steal"] > max_steal_pct / 100)
    worst = max(run["steal"] for run in kept) * 100
    return (f"Steal: {retaken} of {len(kept)} samples were retaken because the hypervisor took more than "
            f"{max_steal_pct:g}% of the machine during them; {over} stayed above it after two retries "
            f"(worst kept: {worst:.1f}%).")


def round_ratios(results, a, b, scenario, metric):
    """a's value over b's, one per round. Servers run back to back within a
    round, so each ratio cancels the host's slow drift (all servers get faster
    or slower together over minutes) that a ratio of medians would keep."""
    pairs = zip(results[a][scenario], results[b][scenario])
    return [x[metric] / y[metric] for x, y in pairs if y[metric]]


def paired_ratio(results, a, b, scenario, metric):
    """The median of the per-round ratios."""
    return median(round_ratios(results, a, b, scenario, metric))


def paired_range(results, a, b, scenario, metric):
    """The lowest and highest per-round ratio: how far one round can stray."""
    ratios = round_ratios(results, a, b, scenario, metric)
    return (min(ratios), max(ratios)) if ratios else (float("nan"), float("nan"))


def median(values):
    return statistics.median(values) if values else float("nan")


def fmt_rate(v, metric):
    return f"{v:,.0f}" if metric == "rps" else f"{v:,.0f} MB/s"


def main():
    global MAX_STEAL
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    ap.add_argument("--only", help="run only scenarios whose name contains this")
    ap.add_argument("--no-tls", action="store_true")
    ap.add_argument("--tls-only", action="store_true",
                    help="run the HTTPS rows only (with --only NONE-MATCHING to skip the plain ones)")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--no-compression", action="store_true")
    ap.add_argument("--candidate", metavar="BINARY",
                    help="also run this ferrox binary (an A/B build) in every round, as 'candidate', "
                         "in the HTTPS rows too")
    ap.add_argument("--candidate-args", default="", metavar="ARGS",
                    help="extra flags for the candidate (with no --candidate: the shipped binary with these flags)")
    ap.add_argument("--sites", type=int, default=0, metavar="N",
                    help="also run the shipped binary with a configuration of N sites (the one tested in "
                         "the middle, found by Host) in every round, as 'sites'")
    ap.add_argument("--routes", action="store_true",
                    help="also run the shipped binary on a one-site configuration with no routes ('routes0'), "
                         "twenty routes that do not take the benchmark's files ('routes20'), and those plus one "
                         "that does, with a header modifier ('routes21'), in every round; compared with 'routes0'")
    ap.add_argument("--probe", action="store_true",
                    help="also run bench/probe (ferrox's handler without its engine) in the 1 KiB keep-alive rows")
    ap.add_argument("--max-steal", type=float, default=MAX_STEAL * 100, metavar="PERCENT",
                    help="retake a sample when the hypervisor stole more than this share of the machine "
                         "during it (at most twice, keeping the least-stolen); 100 turns it off")
    args = ap.parse_args()
    MAX_STEAL = args.max_steal / 100

    # Enough descriptors for 5,000 idle connections on both ends.
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < 2 * IDLE_CONNECTIONS + 1000:
        log(f"open-file limit {hard} is below what {IDLE_CONNECTIONS} idle connections need")
    WORK.mkdir(parents=True, exist_ok=True)
    cert, key = make_fixtures()
    threads = os.cpu_count() or 2
    ferrox_tls = FerroxTls("ferrox", None, free_port(), threads)
    servers = [
        Ferrox("ferrox", free_port(), ferrox_tls.tls_port, threads),
        Nginx("nginx", free_port(), free_port(), threads),
        Lighttpd("lighttpd", free_port(), None, threads),
    ]
    tls_servers = [ferrox_tls]
    if args.candidate or args.candidate_args:
        candidate = Ferrox("candidate", free_port(), None, threads)
        candidate.binary = Path(args.candidate) if args.candidate else Ferrox.binary
        candidate.extra = tuple(args.candidate_args.split())
        servers.insert(1, candidate)
        # The candidate also runs in the HTTPS rows, between ferrox and nginx.
        candidate_tls = FerroxTls("candidate", None, free_port(), threads)
        candidate_tls.binary, candidate_tls.extra = candidate.binary, candidate.extra
        candidate.tls_port = candidate_tls.tls_port
        tls_servers.append(candidate_tls)
    if args.sites:
        many = Ferrox("sites", free_port(), None, threads)
        many.config = write_sites_config(args.sites)
        servers.insert(1, many)
    if args.routes:
        for name, kind in (("routes21", "match"), ("routes20", "twenty"), ("routes0", "none")):
            variant = Ferrox(name, free_port(), None, threads)
            variant.config = write_routes_config(kind)
            servers.insert(1, variant)
    scenarios = [s for s in SCENARIOS if not args.only or args.only in s[0]]
    # Diagnostics beside the servers, in the 1 KiB keep-alive rows only.
    extras = [Ceiling("ceiling", free_port(), None, threads)]
    if args.probe:
        extras.append(Probe("probe", free_port(), None, threads))
    results = {s.name: {sc[0]: [] for sc in scenarios} for s in [*servers, *extras]}
    tls_pair = [s for s in servers if s.name in ("ferrox", "candidate", "nginx")]
    # Whose CPU an HTTPS row counts: ferrox's HTTPS process, nginx's workers.
    tls_process = {t.name: t for t in tls_servers}
    tls_results = {s.name: {t[0]: [] for t in TLS_SCENARIOS} for s in tls_pair}
    memory = {}
    try:
        for s in [*servers, *extras]:
            s.start(cert, key)
        # Warm caches (page cache, open-file caches) before measuring.
        for s in servers:
            wrk(f"http://127.0.0.1:{s.port}/1k.html", 16, 1, [])
        for r in range(args.rounds):
            for sc in scenarios:
                for s in [*servers, *extras] if ceiling_applies(sc) else servers:
                    log(f"round {r + 1}/{args.rounds}  {sc[0]:24}  {s.name}")
                    results[s.name][sc[0]].append(measure(s, sc, args.duration))
            if not args.no_tls and (not args.only or args.tls_only):
                for t in tls_servers:
                    t.start(cert, key)
                for sc in [t for t in TLS_SCENARIOS if not args.only or args.only in t[0]]:
                    for s in tls_pair:
                        log(f"round {r + 1}/{args.rounds}  {sc[0]:36}  {s.name}")
                        tls_results[s.name][sc[0]].append(
                            tls_measure(tls_process.get(s.name, s), s.tls_port, sc, args.duration))
                for t in tls_servers:
                    t.stop()
        if not args.no_memory and not args.only:
            for s in servers:
                log(f"memory  {s.name}")
                idle = s.rss_bytes()
                loaded = measure_under_load(s, args.duration)
                before, after, per_conn = measure_idle_connections(s, IDLE_CONNECTIONS)
                memory[s.name] = {"idle": idle, "under_load": loaded, "idle_conns_before": before,
                                  "idle_conns_after": after, "per_idle_conn": per_conn}
    finally:
        for s in [*servers, *extras, *tls_servers]:
            s.stop()
    compression = None
    if not args.no_compression and not args.only:
        compression = compression_report(min(args.duration, 5))

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
    out_dir = HERE / "results" / stamp
    out_dir.mkdir(parents=True, exist_ok=True)
    machine = {"cpus": os.cpu_count(), "kernel": os.uname().release, "rounds": args.rounds,
               "duration_s": args.duration, "nginx": subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip(),
               "lighttpd": subprocess.run(["lighttpd", "-v"], capture_output=True, text=True).stdout.strip()}
    (out_dir / "raw.json").write_text(json.dumps({"machine": machine, "results": results, "tls": tls_results,
                                                  "memory": memory, "compression": compression}, indent=2))

    lines = [f"# ferrox load benchmark, {stamp}", "",
             f"{machine['cpus']} cores, kernel {machine['kernel']}, {machine['nginx']}, {machine['lighttpd']}; "
             f"wrk -t1, {args.duration} s runs, median of {args.rounds} interleaved rounds (ratios: median of the "
             "per-round ratios), access logs off.", "",
             steal_summary(results, args.max_steal), "",
             "| scenario | ferrox | nginx | lighttpd | ferrox/nginx | rounds' range | lighttpd/nginx | ferrox p50 / p99 ms | nginx p50 / p99 ms | server CPU µs/req (ferrox / nginx) | cores idle (ferrox / nginx / lighttpd) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, _path, _c, _x, metric in scenarios:
        med = {s.name: {k: median([run[k] for run in results[s.name][name]]) for k in
                        ("rps", "mbps", "p50_ms", "p99_ms", "cpu_us_per_req", "errors")} for s in servers}
        f, n, l = med["ferrox"], med["nginx"], med["lighttpd"]
        ratio = paired_ratio(results, "ferrox", "nginx", name, metric)
        low, high = paired_range(results, "ferrox", "nginx", name, metric)
        lighttpd_ratio = paired_ratio(results, "lighttpd", "nginx", name, metric)
        errs = "" if f["errors"] == 0 else f" ({f['errors']:.0f} errors)"
        lines.append(f"| {name} | {fmt_rate(f[metric], metric)}{errs} | {fmt_rate(n[metric], metric)} | "
                     f"{fmt_rate(l[metric], metric)} | **{ratio:.2f}×** | {low:.2f}–{high:.2f} | {lighttpd_ratio:.2f}× | "
                     f"{f['p50_ms']:.2f} / {f['p99_ms']:.2f} | "
                     f"{n['p50_ms']:.2f} / {n['p99_ms']:.2f} | {f['cpu_us_per_req']:.1f} / {n['cpu_us_per_req']:.1f} | "
                     f"{idle_share(results, 'ferrox', name)} / {idle_share(results, 'nginx', name)} / "
                     f"{idle_share(results, 'lighttpd', name)} |")
    extra_rows = [sc for sc in scenarios if ceiling_applies(sc)]
    if extra_rows:
        lines += ["", "Diagnostics: bench/ceiling.c answers each request head with a fixed 1 KiB response "
                  "(no parsing, no files), the most this machine gives."]
        if args.probe:
            lines += ["bench/probe runs ferrox's own parser, handler and head encoder in a bare epoll loop "
                      "per core, without tokio: ferrox/probe is what ferrox's engine costs."]
        lines += ["", "| scenario | server | req/s | over nginx | ferrox over it | server CPU µs/req (user + sys) |",
                  "|---|---|---|---|---|---|"]
        for name, _path, _c, _x, metric in extra_rows:
            for s in ["ferrox", *(e.name for e in extras)]:
                runs = results[s][name]
                user = median([run["user_us_per_req"] for run in runs])
                total = median([run["cpu_us_per_req"] for run in runs])
                over_ferrox = "" if s == "ferrox" else f"{paired_ratio(results, 'ferrox', s, name, metric):.2f}×"
                lines.append(f"| {name} | {s} | {fmt_rate(median([run[metric] for run in runs]), metric)} | "
                             f"{paired_ratio(results, s, 'nginx', name, metric):.2f}× | {over_ferrox} | "
                             f"{user:.1f} + {total - user:.1f} |")
    # Each variant against its baseline, from the same rounds.
    for variant, base in (("candidate", "ferrox"), ("sites", "ferrox"), ("routes0", "ferrox"),
                          ("routes20", "routes0"), ("routes21", "routes0")):
        if variant not in results:
            continue
        lines += ["", f"| scenario | {variant} | {variant}/{base} | rounds' range | {variant}/nginx | "
                      f"server CPU µs/req ({variant} / {base}) |",
                  "|---|---|---|---|---|---|"]
        for name, _path, _c, _x, metric in scenarios:
            med = {s: {k: median([run[k] for run in results[s][name]]) for k in (metric, "cpu_us_per_req")}
                   for s in (variant, base, "nginx")}
            c, f = med[variant], med[base]
            over_base = paired_ratio(results, variant, base, name, metric)
            low, high = paired_range(results, variant, base, name, metric)
            over_nginx = paired_ratio(results, variant, "nginx", name, metric)
            lines.append(f"| {name} | {fmt_rate(c[metric], metric)} | **{over_base:.2f}×** | {low:.2f}–{high:.2f} | "
                         f"{over_nginx:.2f}× | {c['cpu_us_per_req']:.1f} / {f['cpu_us_per_req']:.1f} |")
    if any(tls_results["ferrox"].values()):
        lines += ["", "HTTPS rows: every server's per-connection request cap raised; a row whose client "
                  "reported failed or errored requests is marked invalid, not averaged in.", "",
                  "| HTTPS scenario | ferrox | nginx | ferrox/nginx | rounds' range | errors (ferrox / nginx) "
                  "| server CPU µs/req (ferrox / nginx) | client CPU µs/req (ferrox / nginx) | cores idle (ferrox / nginx) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for name, _client, _paths, _conns, metric in TLS_SCENARIOS:
            f_runs, n_runs = tls_results["ferrox"][name], tls_results["nginx"][name]
            if not f_runs or not n_runs:
                continue
            errors = (sum(r["errors"] for r in f_runs), sum(r["errors"] for r in n_runs))
            ratios = [a[metric] / b[metric] for a, b in zip(f_runs, n_runs) if b[metric]]
            f, n = median([r[metric] for r in f_runs]), median([r[metric] for r in n_runs])
            ratio = f"**{median(ratios):.2f}×**" if ratios else "-"
            if any(errors):
                ratio = f"invalid ({ratio})"
            low, high = (min(ratios), max(ratios)) if ratios else (0, 0)
            cpu = {k: tuple(median([r.get(k, float("nan")) for r in runs]) for runs in (f_runs, n_runs))
                   for k in ("cpu_us_per_req", "client_us_per_req")}
            idle = " / ".join(f"{median([r.get('idle', float('nan')) for r in runs]):.0%}" for runs in (f_runs, n_runs))
            lines.append(f"| {name} | {fmt_rate(f, metric)} | {fmt_rate(n, metric)} | {ratio} | "
                         f"{low:.2f}–{high:.2f} | {errors[0]} / {errors[1]} | "
                         f"{cpu['cpu_us_per_req'][0]:.1f} / {cpu['cpu_us_per_req'][1]:.1f} | "
                         f"{cpu['client_us_per_req'][0]:.1f} / {cpu['client_us_per_req'][1]:.1f} | {idle} |")
    if "candidate" in tls_results and any(tls_results["candidate"].values()):
        lines += ["", "The candidate build in the HTTPS rows, same rounds (ratios: medians of per-round ratios).", "",
                  "| HTTPS scenario | candidate | candidate/ferrox | rounds' range | candidate/nginx | rounds' range | errors "
                  "| server CPU µs/req (candidate / ferrox) |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, _client, _paths, _conns, metric in TLS_SCENARIOS:
            c_runs = tls_results["candidate"][name]
            f_runs, n_runs = tls_results["ferrox"][name], tls_results["nginx"][name]
            if not c_runs or not f_runs or not n_runs:
                continue
            over_f = [a[metric] / b[metric] for a, b in zip(c_runs, f_runs) if b[metric]]
            over_n = [a[metric] / b[metric] for a, b in zip(c_runs, n_runs) if b[metric]]
            errors = sum(r["errors"] for r in c_runs)
            flag = " invalid" if errors else ""
            lines.append(f"| {name} | {fmt_rate(median([r[metric] for r in c_runs]), metric)} | "
                         f"**{median(over_f):.2f}×**{flag} | {min(over_f):.2f}–{max(over_f):.2f} | "
                         f"**{median(over_n):.2f}×**{flag} | {min(over_n):.2f}–{max(over_n):.2f} | {errors} | "
                         f"{median([r.get('cpu_us_per_req', float('nan')) for r in c_runs]):.1f} / "
                         f"{median([r.get('cpu_us_per_req', float('nan')) for r in f_runs]):.1f} |")
    if memory:
        lines += ["", "| memory (RSS, all processes) | " + " | ".join(s.name for s in servers) + " |",
                  "|---" * (len(servers) + 1) + "|"]
        for key, label in (("idle", "idle"), ("under_load", "under load (256 conns)"),
                           ("idle_conns_after", f"with {IDLE_CONNECTIONS:,} idle keep-alive conns")):
            lines.append(f"| {label} | " + " | ".join(f"{memory[s.name][key] / 2**20:.1f} MiB" for s in servers) + " |")
        lines.append("| per idle keep-alive conn | " + " | ".join(f"{memory[s.name]['per_idle_conn'] / 1024:.2f} KiB" for s in servers) + " |")
    if compression:
        lines += ["", "| compression (on the fly, cache off) | original | coding | compressed | saved | server CPU per response | input MB per CPU-second |",
                  "|---|---|---|---|---|---|---|"]
        for r in compression["on_the_fly"]:
            saved = 1 - r["size"] / r["original"]
            lines.append(f"| {r['file']} | {r['original'] / 1024:,.0f} KiB | {r['coding']} | {r['size'] / 1024:,.0f} KiB | "
                         f"{saved:.0%} | {r['cpu_ms']:.1f} ms | {r['mb_per_cpu_s']:,.0f} |")
        side = compression["sidecars"]
        lines += ["", f"`ferrox precompress` (br 11, zstd 19, gzip 9) on both files: {compression['precompress_seconds']:.1f} s wall; "
                  "sidecars: " + ", ".join(f"{k} {v / 1024:,.0f} KiB" for k, v in side.items() if v)]
    table = "\n".join(lines) + "\n"
    (out_dir / "table.md").write_text(table)
    print(table)
    log(f"raw numbers: {out_dir}")


if __name__ == "__main__":
    main()
