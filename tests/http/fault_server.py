#!/usr/bin/env python3
"""A small HTTP/1.1 file server that serves byte ranges correctly, or breaks them on
purpose, for the tests of qstore's HTTP reader (tests/http/test_http.py).

    fault_server.py ROOT PORT_FILE LOG_FILE [--token TOKEN]

It stops by itself after LIFETIME seconds (environment QS_FAULT_SERVER_LIFETIME,
default 900) if nobody stopped it before.

Serves the files of ROOT on 127.0.0.1 at a free port (written to PORT_FILE), with a
strong ETag, Last-Modified, single byte ranges, If-Match (412) and If-Range. Each
request is logged to LOG_FILE as one JSON line: path, range, status, body bytes sent,
whether an Authorization header came and whether it held the token (the token itself
is never written).

The URL chooses the behaviour: /ok/NAME serves ROOT/NAME as it is;
/fault/KIND/AFTER/COUNT/NAME serves it too, except that the requests to that URL
numbered AFTER .. AFTER+COUNT-1 (from 0) get the fault KIND:
  drop      headers, half of the body, then the connection is closed
  stall     headers, half of the body, then nothing for 5 s, then closed
  503       503 Service Unavailable
  badrange  a Content-Range one byte off from the range asked for
  norange   200 with the whole file, the Range header ignored
  truncate  206 with the right Content-Range but half of the body (and a
            Content-Length that says so)
  replace   the file has changed: other bytes, another ETag (from request AFTER on,
            whatever COUNT says)
  weakreplace  the same with weak ETags (W/"..."), which If-Match cannot use: the
            client sends If-Range, and a changed file comes back as 200
/redirect/NAME answers 302 to /ok/NAME; /auth/NAME needs "Authorization: Bearer TOKEN"
(401 without it).
"""
import email.utils
import hashlib
import http.server
import json
import os
import socket
import sys
import threading
import time

ROOT, PORT_FILE, LOG_FILE = sys.argv[1], sys.argv[2], sys.argv[3]
TOKEN = sys.argv[5] if len(sys.argv) > 5 and sys.argv[4] == "--token" else None
counts = {}
lock = threading.Lock()


def parse_range(header, size):
    """(first, last) of a single 'bytes=a-b' range, clipped to the file; None if absent."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    a, _, b = header[6:].partition("-")
    first = int(a)
    last = min(int(b) if b else size - 1, size - 1)
    return first, last


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def record(self, status, sent):
        auth = self.headers.get("Authorization")
        entry = {"path": self.path, "range": self.headers.get("Range"), "status": status, "bytes": sent,
                 "auth": auth is not None, "token_ok": TOKEN is not None and auth == "Bearer " + TOKEN}
        with lock, open(LOG_FILE, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def simple(self, status, headers=()):
        self.record(status, 0)  # before answering: the client may be gone right after
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        parts = self.path.split("/")
        fault = None
        if parts[1] == "ok":
            name = "/".join(parts[2:])
        elif parts[1] == "redirect":
            return self.simple(302, [("Location", "/ok/" + "/".join(parts[2:]))])
        elif parts[1] == "auth":
            name = "/".join(parts[2:])
            if TOKEN is None or self.headers.get("Authorization") != "Bearer " + TOKEN:
                return self.simple(401)
        elif parts[1] == "fault":
            kind, after, count = parts[2], int(parts[3]), int(parts[4])
            name = "/".join(parts[5:])
            with lock:
                n = counts.get(self.path, 0)
                counts[self.path] = n + 1
            if kind.endswith("replace") and n >= after or after <= n < after + count:
                fault = kind
        else:
            return self.simple(404)
        path = os.path.join(ROOT, name)
        if not os.path.isfile(path):
            return self.simple(404)
        with open(path, "rb") as f:
            data = f.read()
        replaced = fault is not None and fault.endswith("replace")
        if replaced:
            data = bytes(b ^ 0x5A for b in data)
        etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        if parts[1] == "fault" and parts[2] == "weakreplace":
            etag = "W/" + etag
        modified = email.utils.formatdate(os.path.getmtime(path) + (100 if replaced else 0), usegmt=True)
        if fault == "503":
            return self.simple(503)
        if_match = self.headers.get("If-Match")
        if if_match is not None and if_match != etag:
            return self.simple(412)
        rng = parse_range(self.headers.get("Range"), len(data))
        if_range = self.headers.get("If-Range")
        if if_range is not None and if_range not in (etag, modified):
            rng = None
        if fault == "norange":
            rng = None
        if rng is None:
            return self.send_body(200, data, etag, modified, None)
        first, last = rng
        if first >= len(data):
            return self.simple(416, [("Content-Range", "bytes */%d" % len(data))])
        body = data[first:last + 1]
        shown = (first + 1, last + 1) if fault == "badrange" else (first, last)
        content_range = "bytes %d-%d/%d" % (shown[0], shown[1], len(data))
        if fault == "truncate":
            body = body[:len(body) // 2]
        self.send_body(206, body, etag, modified, content_range, fault)

    def send_body(self, status, body, etag, modified, content_range, fault=None):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", modified)
        self.send_header("Accept-Ranges", "bytes")
        if content_range:
            self.send_header("Content-Range", content_range)
        if fault in ("drop", "stall"):
            half = body[:len(body) // 2]
            self.record(status, len(half))
            self.end_headers()
            self.wfile.write(half)
            self.wfile.flush()
            if fault == "stall":
                time.sleep(5)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.record(status, len(body))
        self.end_headers()
        self.wfile.write(body)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def main():
    server = Server(("127.0.0.1", 0), Handler)
    with open(PORT_FILE + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(PORT_FILE + ".tmp", PORT_FILE)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    time.sleep(float(os.environ.get("QS_FAULT_SERVER_LIFETIME", "900")))
    server.shutdown()


if __name__ == "__main__":
    main()
