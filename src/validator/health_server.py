"""The health check server a validator starts inside a rented container on one user port
(sn27-v2.md §4.5): GET / answers 200 "Health OK", anything else 404; its PID goes to
/tmp/sn27-health-<port>.pid; after --timeout seconds it stops answering and exits.
Standard library only: it runs with the container's python3.
"""

import argparse
import os
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer


class Health(BaseHTTPRequestHandler):
    def do_GET(self):
        found = self.path == "/"
        body = b"Health OK" if found else b"Not Found"
        self.send_response(200 if found else 404)
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
    with open(f"/tmp/sn27-health-{args.port}.pid", "w") as f:
        f.write(str(os.getpid()))
    server = HTTPServer(("0.0.0.0", args.port), Health)
    threading.Timer(args.timeout, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
