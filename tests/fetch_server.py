#!/usr/bin/python3
"""Local HTTP server for tests/test_fetch.c: serves the files of --root, with
misbehaviour chosen by the first path component so one server can act as
several mirrors:

  /ok/NAME       the file, honouring "Range: bytes=N-" (206 / 416)
  /norange/NAME  the file, ignoring Range (always 200)
  /404/NAME      404 with an HTML body
  /500/NAME      500 (a transient error: the client should retry)
  /html/NAME     200 with an HTML page (a captive portal / error page as .gz)
  /corrupt/NAME  the file with one byte of the deflate data flipped
  /slow/NAME     the first 4 KiB at once, then 1 KiB every 0.1 s
  /stall/NAME    the first 4 KiB, then nothing for 60 s
  /redirect/NAME 302 to /ok/NAME

Binds 127.0.0.1 port 0 and prints "PORT <n>" on stdout once it is listening.
Each request is appended to --log as "GET <path> <range or ->".
Stops on SIGTERM/SIGINT (the test kills it).
"""
import argparse
import http.server
import os
import signal
import sys
import threading
import time

HTML = b"<html><head><title>404 Not Found</title></head><body>Not Found</body></html>\n"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes

    def log_message(self, fmt, *args):  # keep stderr quiet
        pass

    def _log(self):
        with self.server.log_lock:
            with open(self.server.log_path, "a") as f:
                f.write("GET %s %s\n" % (self.path, self.headers.get("Range", "-")))

    def _send(self, code, body, ctype="application/octet-stream", extra=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._log()
        try:
            self._get()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _get(self):
        parts = self.path.lstrip("/").split("/", 1)
        if len(parts) != 2 or "/" in parts[1] or parts[1].startswith("."):
            return self._send(400, b"bad path\n", "text/plain")
        mode, name = parts
        if mode == "404":
            return self._send(404, HTML, "text/html")
        if mode == "500":
            return self._send(500, b"oops\n", "text/plain")
        if mode == "redirect":
            return self._send(302, b"", "text/plain", {"Location": "/ok/" + name})
        path = os.path.join(self.server.root, name)
        if not os.path.isfile(path):
            return self._send(404, HTML, "text/html")
        with open(path, "rb") as f:
            data = f.read()
        if mode == "html":
            page = b"<html><body>Please log in to the network</body></html>\n"
            return self._send(200, page, "text/html")
        if mode == "corrupt":
            b = bytearray(data)
            b[len(b) // 2] ^= 0x55
            data = bytes(b)
        start = 0
        rng = self.headers.get("Range")
        if rng and mode != "norange" and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            if start >= len(data):
                return self._send(416, HTML, "text/html",
                                  {"Content-Range": "bytes */%d" % len(data)})
        body = data[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        if start:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        self.end_headers()
        if mode == "slow":
            self.wfile.write(body[:4096])
            self.wfile.flush()
            for i in range(4096, len(body), 1024):
                time.sleep(0.1)
                self.wfile.write(body[i:i + 1024])
                self.wfile.flush()
        elif mode == "stall":
            self.wfile.write(body[:4096])
            self.wfile.flush()
            time.sleep(60)
        else:
            self.wfile.write(body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--log", default=os.devnull)
    a = ap.parse_args()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.root = a.root
    srv.log_path = a.log
    srv.log_lock = threading.Lock()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    sys.stdout.write("PORT %d\n" % srv.server_address[1])
    sys.stdout.flush()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
