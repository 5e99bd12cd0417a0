"""A server requestcov's launcher does not wrap: the standard library's
``http.server`` with a handler of its own, no WSGI or ASGI app anywhere, served
with ``python plain_http_server.py PORT``. Its answers are as good as any
other server's, but nothing records them: ``requestcov run --replay`` must say
so instead of reporting a green replay.

It answers every path: ``GET`` with 200, or 404 when the last segment is a
number above 100 (``/users/500``, ``/items/500``), and ``POST`` with 200.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import served_logic


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        last = self.path.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
        if last.isdigit() and int(last) > 100:
            self.answer(404, {"error": "not found"})
        elif last.isdigit():
            self.answer(200, served_logic.describe_user(int(last)))
        else:
            self.answer(200, {"path": self.path})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.answer(200, {"accepted": True})

    def answer(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
