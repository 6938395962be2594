#!/usr/bin/env python3
"""A slow issuer for the head-of-line benchmark: a loopback HTTP proxy in front of the test
provider that holds every refresh-token request for --delay seconds before passing it on.

  slow_issuer.py --upstream http://127.0.0.1:PORT --delay 3

The first stdout line is `issuer=http://127.0.0.1:OWNPORT`, printed once the socket listens.
Response bodies and Location headers have the upstream base rewritten to the proxy's own, so
discovery names the proxy as issuer and every endpoint goes through it: an account configured
with this issuer is "account A on a slow provider", while other accounts use the provider
directly. Each held request prints `held` on stdout when it arrives, so the runner knows the
refresh is in flight before it measures.
"""
import argparse
import http.client
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-connection", "content-length", "host"}
print_lock = threading.Lock()


def make_handler(upstream, delay):
    target = urlsplit(upstream)
    upstream_base = f"{target.scheme}://{target.netloc}".encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):
            pass

        def own_base(self):
            return f"http://127.0.0.1:{self.server.server_address[1]}".encode()

        def forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.command == "POST" and self.path.split("?")[0].endswith("/token/"):
                grant = parse_qs(body.decode(errors="replace")).get("grant_type", [""])[0]
                if grant == "refresh_token":
                    with print_lock:
                        print("held", flush=True)
                    time.sleep(delay)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["Host"] = target.netloc
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            try:
                connection.request(self.command, self.path, body=body or None, headers=headers)
                response = connection.getresponse()
                payload = response.read().replace(upstream_base, self.own_base())
                self.send_response(response.status, response.reason)
                for name, value in response.getheaders():
                    if name.lower() in HOP_BY_HOP:
                        continue
                    if name.lower() == "location":
                        value = value.replace(upstream_base.decode(), self.own_base().decode())
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(payload)
            finally:
                connection.close()

        do_GET = do_POST = forward

    return Handler


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--delay", type=float, default=3.0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args.upstream.rstrip("/"), args.delay))
    server.daemon_threads = True
    print(f"issuer=http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
