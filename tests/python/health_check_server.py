"""The HTTP server an SN27 v2.1+ validator starts inside a rented container on each internal
user port (sn27-v2.md §4.5): GET / answers 200 "Health OK", anything else 404; the PID goes to
/tmp/health_check_server_<port>.pid; after --timeout seconds it stops answering and exits.

  health_check_server.py --port <internal port> [--timeout 60]
"""

import argparse
import os
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer


class Health(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"Health OK" if self.path == "/" else b"Not Found"
        self.send_response(200 if self.path == "/" else 404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()
    with open(f"/tmp/health_check_server_{args.port}.pid", "w") as f:
        f.write(str(os.getpid()))
    server = HTTPServer(("0.0.0.0", args.port), Health)
    threading.Timer(args.timeout, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
