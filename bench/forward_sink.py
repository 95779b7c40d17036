#!/usr/bin/env python3
"""A webhook receiver for bench/e2e.sh's forwarding phase: answers 204 to every POST at once and counts
the messages of the batches (JSON arrays) it took; GET /count answers that count. Signatures are not
checked and bodies are not parsed: it counts the `"messageId":` members, one a message (a payload's own
strings cannot hold the unescaped text). The benchmark measures the platform's cost, on the same two cores as
this receiver, so the receiver does as little as it can; the integration tests check bodies and signatures.

    python3 bench/forward_sink.py PORT
"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

received = 0


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802 (http.server's naming)
        global received
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        received += body.count(b'"messageId":')
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):  # noqa: N802
        text = str(received).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
