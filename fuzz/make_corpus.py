#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/ (one file per seed, named
for what it is). Run from anywhere: python3 fuzz/make_corpus.py. The files are
committed; this script only documents where they came from and rewrites them.

Input layouts (see each target's Input):
  h1_head         raw request bytes
  chunked         limit byte (high bit: no limit), piece-length seed byte, body
  path            the request path (UTF-8)
  range           representation length (u64 little-endian), range cap (u8), value
  accept_encoding 4 bytes offering br, zstd, gzip, identity (low bit), value
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, seeds):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    for name, data in seeds.items():
        if isinstance(data, str):
            data = data.encode("utf-8")
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)


CRLF = "\r\n"


def req(*lines, end=CRLF, body=""):
    return end.join(lines) + end + end + body


CHROME = [
    "GET /assets/app.3f9c1a2b.js HTTP/1.1",
    "Host: example.com",
    "Connection: keep-alive",
    'sec-ch-ua: "Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"',
    "sec-ch-ua-mobile: ?0",
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    'sec-ch-ua-platform: "Linux"',
    "Accept: */*",
    "Sec-Fetch-Site: same-origin",
    "Sec-Fetch-Mode: no-cors",
    "Sec-Fetch-Dest: script",
    "Referer: https://example.com/",
    "Accept-Encoding: gzip, deflate, br, zstd",
    "Accept-Language: en-US,en;q=0.9",
    'If-None-Match: "1a2b-3c4d-5e6f"',
    "If-Modified-Since: Tue, 05 Nov 2024 10:00:00 GMT",
]
FIREFOX = [
    "GET /docs/ HTTP/1.1",
    "Host: localhost:8080",
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language: en-US,en;q=0.5",
    "Accept-Encoding: gzip, deflate, br",
    "Connection: keep-alive",
    "Upgrade-Insecure-Requests: 1",
    "Sec-Fetch-Dest: document",
    "Sec-Fetch-Mode: navigate",
    "Sec-Fetch-Site: none",
    "Sec-Fetch-User: ?1",
    "Priority: u=0, i",
]
H = "Host: a"
G = "GET / HTTP/1.1"

h1_head = {
    "chrome-script": req(*CHROME),
    "firefox-navigate": req(*FIREFOX),
    "curl": req("GET /index.html HTTP/1.1", "Host: 127.0.0.1:8080", "User-Agent: curl/8.5.0", "Accept: */*"),
    "curl-head": req("HEAD /big.bin HTTP/1.1", "Host: localhost", "User-Agent: curl/8.5.0", "Accept: */*"),
    "curl-range": req("GET /video.mp4 HTTP/1.1", "Host: localhost", "Range: bytes=0-1023,-512", "If-Range: \"abc\""),
    "wrk": req("GET /1k.txt HTTP/1.1", "Host: 127.0.0.1:8080"),
    "wrk-pipelined": req("GET /a HTTP/1.1", "Host: a") + req("GET /b HTTP/1.1", "Host: a") + "GET /c HTT",
    "post-length": req("POST /form HTTP/1.1", H, "Content-Type: application/x-www-form-urlencoded", "Content-Length: 7", body="a=b&c=d"),
    "post-chunked": req("POST /up HTTP/1.1", H, "Transfer-Encoding: chunked", body="5\r\nhello\r\n0\r\n\r\n"),
    "expect-continue": req("PUT /x HTTP/1.1", H, "Content-Length: 5", "Expect: 100-continue", body="hello"),
    "expect-unknown": req(G, H, "Expect: teapot"),
    "http10": req("GET / HTTP/1.0"),
    "http10-keepalive": req("GET / HTTP/1.0", "Connection: keep-alive", "Host: a"),
    "http10-te": req("POST / HTTP/1.0", "Transfer-Encoding: chunked", body="0\r\n\r\n"),
    "http12": req("GET / HTTP/1.2", H),
    "http19-split": "GET / HTTP/1.9",
    "http20": req("GET / HTTP/2.0", H),
    "http3": req("GET / HTTP/3", H),
    "http-garbage-version": req("GET / HTTP/1.x", H),
    "h2-preface": "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "options-star": req("OPTIONS * HTTP/1.1", H),
    "get-star": req("GET * HTTP/1.1", H),
    "connect": req("CONNECT example.com:443 HTTP/1.1", "Host: example.com:443"),
    "absolute-form": req("GET http://example.com:81/x?y HTTP/1.1", "Host: other"),
    "absolute-form-empty-host": req("GET http://example.com/ HTTP/1.1", "Host: "),
    "absolute-userinfo": req("GET http://u:p@example.com/ HTTP/1.1", H),
    "empty-host": req(G, "Host: "),
    "missing-host": req(G, "Accept: */*"),
    "duplicate-host": req(G, "Host: a", "host: b"),
    "host-ipv6": req(G, "Host: [::1]:8080"),
    "host-bad": req(G, "Host: a/b@c"),
    "non-ascii-target": b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
    "latin1-target": b"GET /caf\xe9 HTTP/1.1\r\nHost: a\r\n\r\n",
    "obs-text-value": b"GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xe9\r\n\r\n",
    "cl-te": req("POST / HTTP/1.1", H, "Content-Length: 6", "Transfer-Encoding: chunked", body="0\r\n\r\nG"),
    "te-cl": req("POST / HTTP/1.1", H, "Transfer-Encoding: chunked", "Content-Length: 3", body="8\r\nSMUGGLED\r\n0\r\n\r\n"),
    "duplicate-cl-same": req("POST / HTTP/1.1", H, "Content-Length: 5", "Content-Length: 5", body="hello"),
    "duplicate-cl-differ": req("POST / HTTP/1.1", H, "Content-Length: 5", "Content-Length: 6", body="hello!"),
    "cl-list": req("POST / HTTP/1.1", H, "Content-Length: 5, 5", body="hello"),
    "cl-list-differ": req("POST / HTTP/1.1", H, "Content-Length: 5,6", body="hello!"),
    "cl-zero": req("POST / HTTP/1.1", H, "Content-Length: 0"),
    "cl-plus": req("POST / HTTP/1.1", H, "Content-Length: +5", body="hello"),
    "cl-hex": req("POST / HTTP/1.1", H, "Content-Length: 0x5", body="hello"),
    "cl-huge": req("POST / HTTP/1.1", H, "Content-Length: 99999999999999999999"),
    "cl-19-digits": req("POST / HTTP/1.1", H, "Content-Length: 9999999999999999999"),
    "cl-space-inside": req("POST / HTTP/1.1", H, "Content-Length: 1 2"),
    "te-chunked-gzip": req("POST / HTTP/1.1", H, "Transfer-Encoding: chunked, gzip", body="0\r\n\r\n"),
    "te-gzip-chunked": req("POST / HTTP/1.1", H, "Transfer-Encoding: gzip, chunked", body="0\r\n\r\n"),
    "te-two-lines": req("POST / HTTP/1.1", H, "Transfer-Encoding: gzip", "Transfer-Encoding: chunked", body="0\r\n\r\n"),
    "te-chunked-twice": req("POST / HTTP/1.1", H, "Transfer-Encoding: chunked, chunked"),
    "te-uppercase": req("POST / HTTP/1.1", H, "TRANSFER-ENCODING: CHUNKED", body="0\r\n\r\n"),
    "te-xchunked": req("POST / HTTP/1.1", H, "Transfer-Encoding: xchunked"),
    "te-param": req("POST / HTTP/1.1", H, "Transfer-Encoding: chunked;q=1"),
    "te-unknown": req("POST / HTTP/1.1", H, "Transfer-Encoding: foo, chunked"),
    "te-empty": req("POST / HTTP/1.1", H, "Transfer-Encoding: "),
    "te-space-before-colon": req("POST / HTTP/1.1", H, "Transfer-Encoding : chunked"),
    "te-vtab": "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x0bchunked\r\n\r\n",
    "obs-fold": req(G, H, "X-Long: a", " folded"),
    "obs-fold-te": req("POST / HTTP/1.1", H, "Transfer-Encoding: gzip,", "\tchunked"),
    "bare-lf": req(G, H, "Accept: */*", end="\n"),
    "bare-lf-mixed": "GET / HTTP/1.1\nHost: a\r\n\n",
    "bare-cr": "GET / HTTP/1.1\rHost: a\r\r",
    "leading-crlf": CRLF + req(G, H),
    "leading-crlf-http12": CRLF + req("GET / HTTP/1.2", H),
    "connection-close": req(G, H, "Connection: foo, Close"),
    "nul-in-value": "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
    "space-in-target": req("GET /a b HTTP/1.1", H),
    "double-space": req("GET  / HTTP/1.1", H),
    "unknown-method": req("BREW /pot HTTP/1.1", H),
    "lowercase-method": req("get / HTTP/1.1", H),
    "many-headers": req(G, H, *[f"X-{i}: {i}" for i in range(120)]),
    "long-target": req("GET /" + "a" * 33000 + " HTTP/1.1", H),
    "long-value": req(G, H, "X-Big: " + "b" * 33000),
    "partial-line": "GET /partial HTTP/1.1\r\nHost:",
    "empty": "",
    "crlf-only": CRLF * 4,
    # Regressions found by this target (see the commits that fixed them).
    "regress-partial-version": b"PRI * HTTP/3.\x18\x00\x00",
    "regress-partial-minor": "GET / HTTP/1.23\r\nHost: a\r\n\r\n",
}

chunked_bodies = {
    "simple": "5\r\nhello\r\n0\r\n\r\n",
    "two-chunks": "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    "hex-upper": "A\r\n0123456789\r\n0\r\n\r\n",
    "hex-lower-long": "00000a\r\n0123456789\r\n0\r\n\r\n",
    "pipelined-after": "5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "trailer": "5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n",
    "ext-token": "5;ext=1\r\nhello\r\n0\r\n\r\n",
    "ext-name-only": "5;a\r\nhello\r\n0\r\n\r\n",
    "ext-spaces": "5 ; a = b ;c\r\nhello\r\n0\r\n\r\n",
    "ext-quoted": '5;a="x \\" y"\r\nhello\r\n0\r\n\r\n',
    "ext-quoted-then-more": '5;a="q" ;b\r\nhello\r\n0\r\n\r\n',
    "ext-on-last": "5\r\nhello\r\n0;last=yes\r\n\r\n",
    "funky-semi": "5;\r\nhello\r\n0\r\n\r\n",
    "funky-space": "5 \r\nhello\r\n0\r\n\r\n",
    "funky-tab": "5\t\r\nhello\r\n0\r\n\r\n",
    "funky-bracket": "5;a[=b\r\nhello\r\n0\r\n\r\n",
    "funky-empty-value": "5;a=\r\nhello\r\n0\r\n\r\n",
    "funky-space-in-value": "5;a=b c\r\nhello\r\n0\r\n\r\n",
    "funky-open-quote": '5;a="open\r\nhello\r\n0\r\n\r\n',
    "funky-after-quote": '5;a="x"y\r\nhello\r\n0\r\n\r\n',
    "funky-no-name": "5;=x\r\nhello\r\n0\r\n\r\n",
    "funky-ctl": "5;a\x01\r\nhello\r\n0\r\n\r\n",
    "funky-lf-in-quote": '5;a="x\ny"\r\nhello\r\n0\r\n\r\n',
    "bare-lf-size": "5\nhello\r\n0\r\n\r\n",
    "bare-lf-data": "5\r\nhello\n0\r\n\r\n",
    "bare-lf-end": "0\r\n\n",
    "data-too-long": "5\r\nhelloX\r\n0\r\n\r\n",
    "data-too-short": "5\r\nhell\r\n0\r\n\r\n",
    "negative": "-5\r\nhello\r\n0\r\n\r\n",
    "0x-prefix": "0x5\r\nhello\r\n0\r\n\r\n",
    "size-overflow": "ffffffffffffffff\r\n",
    "size-15-digits": "fffffffffffffff\r\n",
    "size-huge-zeros": "0000000000000000005\r\nhello\r\n0\r\n\r\n",
    "empty-size": "\r\nhello\r\n0\r\n\r\n",
    "no-final-crlf": "5\r\nhello\r\n0\r\n",
    "cut-in-data": "5\r\nhel",
    "cut-in-ext": "5;abc=",
    "long-ext": "1;" + "a" * 4100 + "\r\nx\r\n0\r\n\r\n",
    "long-trailer": "0\r\nX: " + "t" * 4100 + "\r\n\r\n",
    "obs-fold-trailer": "0\r\nX: a\r\n folded\r\n\r\n",
    "many-small": "1\r\na\r\n" * 40 + "0\r\n\r\n",
}
chunked = {}
for name, body in chunked_bodies.items():
    # Unlimited with a few piece patterns, and a tight limit of 10 bytes.
    chunked[name] = bytes([0x80, 7]) + body.encode()
    chunked[name + "-limit10"] = bytes([10, 200]) + body.encode()
chunked["limit0-empty"] = bytes([0, 1]) + b"0\r\n\r\n"
chunked["limit0-one"] = bytes([0, 1]) + b"1\r\na\r\n0\r\n\r\n"

path = {
    "root": "/",
    "file": "/index.html",
    "nested": "/assets/js/app.3f9c1a2b.js",
    "folder-slash": "/docs/",
    "double-slash": "//a//b/",
    "dot": "/a/./b",
    "dotdot": "/a/../b",
    "dotdot-escape": "/../etc/passwd",
    "dotdot-deep": "/a/b/../../../etc/passwd",
    "pct-dotdot": "/%2e%2e/%2e%2e/etc/passwd",
    "pct-dotdot-upper": "/%2E%2E%2Fetc",
    "pct-slash": "/a%2fb",
    "pct-dotdot-slash": "/..%2f..%2fx",
    "double-encoded": "/%252e%252e/x",
    "mixed-dot": "/.%2e/x",
    "backslash": "/..\\..\\windows\\win.ini",
    "pct-backslash": "/%5c..%5cx",
    "nul": "/a%00b",
    "nul-raw": "/a\x00b",
    "crlf": "/a%0d%0aSet-Cookie:x",
    "del": "/a%7f",
    "space": "/a%20b+c",
    "unicode": "/caf%C3%A9/%E2%80%AE.txt",
    "unicode-raw": "/café/日本語.txt",
    "invalid-utf8": "/%FF%FE/%C0%AE%C0%AE",
    "overlong-dot": "/%c0%ae%c0%ae/x",
    "dotfile": "/.env",
    "dotgit": "/a/.git/config",
    "dotfile-popped": "/a/.env/..",
    "dots-in-name": "/a..b/c.",
    "triple-dot": "/.../x",
    "trailing-dot": "/a/.",
    "trailing-dotdot": "/a/b/..",
    "percent-alone": "/100%",
    "percent-bad": "/%zz/%4",
    "query-chars": "/a%3Fb%23c",
    "empty": "",
    "relative": "a/b",
    "many-segments": "/a" * 200,
    "long-name": "/" + "n" * 300,
}

RANGE_LEN = 1000


def rng(value, length=RANGE_LEN, cap=16):
    return struct.pack("<QB", length, cap) + value.encode()


range_ = {
    "first-byte": rng("bytes=0-0"),
    "first-100": rng("bytes=0-99"),
    "suffix": rng("bytes=-5"),
    "suffix-all": rng("bytes=-5000"),
    "suffix-zero": rng("bytes=-0"),
    "open": rng("bytes=5-"),
    "open-past-end": rng("bytes=1000-"),
    "end-past-len": rng("bytes=990-5000"),
    "two": rng("bytes=0-9,20-29"),
    "two-reversed": rng("bytes=20-29,0-9"),
    "adjacent": rng("bytes=0-9,10-19"),
    "overlapping": rng("bytes=0-9,5-14"),
    "overlap-over-len": rng("bytes=0-600,400-999"),
    "same-twice": rng("bytes=0-999,0-999"),
    "many": rng("bytes=" + ",".join(f"{i*10}-{i*10+1}" for i in range(16))),
    "too-many": rng("bytes=" + ",".join(f"{i*10}-{i*10+1}" for i in range(17))),
    "many-overlapping": rng("bytes=" + ",".join("0-" for _ in range(50)), cap=255),
    "cap-zero": rng("bytes=0-0", cap=0),
    "spaces": rng("BYTES = 0-0 , 5 - 9"),
    "empty-element": rng("bytes=0-9, ,20-29"),
    "reversed-span": rng("bytes=5-1"),
    "letters": rng("bytes=a-b"),
    "plus": rng("bytes=+1-2"),
    "three-parts": rng("bytes=1-2-3"),
    "empty-set": rng("bytes="),
    "dash-only": rng("bytes=-"),
    "overflow": rng("bytes=0-99999999999999999999"),
    "u64-max": rng("bytes=18446744073709551615-", length=(1 << 64) - 1),
    "huge-len": rng("bytes=-1,0-0", length=(1 << 64) - 1),
    "other-unit": rng("items=0-9"),
    "no-unit": rng("0-9"),
    "empty-file-suffix": rng("bytes=-1", length=0),
    "empty-file-start": rng("bytes=0-", length=0),
    "empty-file-mixed": rng("bytes=0-,-5", length=0),
    "one-byte-file": rng("bytes=0-0,-1", length=1),
    "unicode": rng("bytes=０-９"),
    "garbage": rng("\x00\xff;=,-"),
}

def ae(value, offer=(1, 1, 1, 0)):
    return bytes(offer) + value.encode()


accept_encoding = {
    "chrome": ae("gzip, deflate, br, zstd"),
    "firefox": ae("gzip, deflate, br"),
    "safari": ae("gzip, deflate, br"),
    "curl-compressed": ae("deflate, gzip, br, zstd"),
    "wget": ae("identity"),
    "old-ie": ae("gzip, deflate"),
    "empty": ae(""),
    "gzip-only-offer": ae("br, gzip", offer=(0, 0, 1, 0)),
    "nothing-offered": ae("gzip, br", offer=(0, 0, 0, 0)),
    "q-values": ae("br;q=0.5, gzip;q=0.9, *;q=0.1"),
    "q-tie": ae("br;q=0.5, gzip;q=0.5"),
    "q-three-decimals": ae("gzip;q=0.001, identity;q=0"),
    "q-too-precise": ae("gzip;q=0.0001"),
    "q-over-one": ae("gzip;q=2"),
    "q-one-point": ae("gzip;q=1.000, br;q=1."),
    "q-upper": ae("GZIP;Q=1.0"),
    "q-spaces": ae("gzip ; q = 0.8 , br ; q=0.9"),
    "q-last-wins": ae("gzip;q=0.1;q=0.9"),
    "q-other-param": ae("gzip;level=9;q=0.7"),
    "q-garbage": ae("br;q=abc, gzip;q=, zstd;q=.5"),
    "star": ae("*"),
    "star-zero": ae("*;q=0"),
    "star-zero-nothing": ae("*;q=0", offer=(0, 0, 0, 0)),
    "star-zero-identity": ae("*;q=0, identity"),
    "star-half-gzip": ae("*;q=0.5, gzip"),
    "two-stars": ae("*;q=0, *;q=1"),
    "identity-zero": ae("identity;q=0"),
    "identity-zero-nothing": ae("identity;q=0", offer=(0, 0, 0, 0)),
    "identity-zero-identity-offered": ae("identity;q=0", offer=(0, 0, 0, 1)),
    "identity-zero-gzip": ae("identity;q=0, gzip"),
    "identity-twice": ae("identity;q=0, identity;q=0.5"),
    "x-gzip": ae("x-gzip"),
    "unknown-only": ae("compress, deflate, sdch"),
    "commas": ae(",,, ,gzip,,"),
    "semicolons": ae(";;;q=1;"),
    "unicode": ae("gzip;q=0.5,\u00a0br"),
    "tabs": ae("\tgzip\t;\tq=0.3"),
    "long": ae(", ".join(["gzip;q=0.1"] * 200)),
}

write("h1_head", h1_head)
write("chunked", chunked)
write("path", path)
write("range", range_)
write("accept_encoding", accept_encoding)
