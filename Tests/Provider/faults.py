#!/usr/bin/env python3
"""A tiny fault-injecting OAuth/OIDC server for the client's error paths (stdlib only).

  faults.py [--port N]      first stdout line: base=http://127.0.0.1:PORT

Each first path segment is an issuer of its own, `BASE/<fault>`, whose discovery document points
every endpoint (token, device authorization, revocation, registration) at `BASE/<fault>/endpoint`;
that endpoint answers with the fault. Faults:

  ok               a well-formed token response (control)
  non-json         200, text/plain body
  empty-400        400, empty body          empty-500    500, empty body
  html-500         500, an HTML error page  html-200     200, an HTML page
  missing-field    200, JSON without access_token
  wrong-type       200, expires_in is a word and token_type a number
  not-object       200, a JSON array
  hang             never answers (the client's timeout must fire)
  huge             200, a 2 MiB JSON body (over the 1 MiB cap)
  redirect         307 to the `ok` endpoint (the client must not follow a redirect with credentials)
  oauth-error      400 {"error": "invalid_grant", ...}  (control for well-formed errors)
  echo-secret      400 invalid_request whose description repeats every form value sent (and the
                   Authorization header): the client must scrub its secrets from the message
  pending-428      428 {"error": "authorization_pending"} (the status code must not matter)
  wrong-issuer     discovery names another issuer
  rfc8414-only     no OpenID discovery (404); RFC 8414 metadata at
                   /.well-known/oauth-authorization-server/rfc8414-only
  discovery-html   discovery answers with an HTML page
  discovery-no-token-endpoint  discovery without token_endpoint
  bare             discovery with issuer and token_endpoint only (no device flow, no revocation)
  no-expiry        200, a token response without expires_in
  jwt-no-expiry    200, a JWT access token (exp = now + 120 s) without expires_in

Parameterised faults (RAW is put into the JSON text verbatim, so it may be any number literal,
e.g. 9223372036000000000, -5, 3600.9, 1e400, or a quoted string; percent-decoded first):

  expires-in=RAW         200, the `ok` token response with "expires_in": RAW
  refresh-token=RAW      200, the `ok` token response with "refresh_token": RAW (`absent`: none)
  access-token=RAW       200, the `ok` token response with "access_token": RAW
  token-type=RAW         200, the `ok` token response with "token_type": RAW
  invalid-grant-status=N HTTP N with {"error": "invalid_grant"} (a 5xx must not end the login)
  error-status=N:CODE    HTTP N with {"error": CODE, "error_description": "… was not found"}
  jwt-exp=RAW            200, a JWT access token whose payload is {"exp": RAW}, no expires_in
  device-expires-in=RAW  the device authorization endpoint answers "expires_in": RAW (interval 1);
                         its token endpoint answers like `ok`
  device-interval=RAW    the device authorization endpoint answers "interval": RAW (expires_in 60)
"""
import argparse
import base64
import json
import os
import sys
import time
from urllib.parse import unquote
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from parent_watch import serve_until_parent_exits

TOKEN = {"access_token": "fault-server-access-token", "token_type": "Bearer", "expires_in": 60,
         "refresh_token": "fault-server-refresh-token", "scope": "openid"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def send(self, status, body=b"", content_type="application/json", headers=()):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        if body or status >= 400:
            self.send_header("Content-Type", content_type)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def base(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def metadata(self, fault, issuer=None):
        issuer = issuer or f"{self.base()}/{fault}"
        endpoint = f"{self.base()}/{fault}/endpoint"
        document = {
            "issuer": issuer,
            "token_endpoint": endpoint,
            "device_authorization_endpoint": endpoint,
            "revocation_endpoint": endpoint,
            "registration_endpoint": endpoint,
            "grant_types_supported": ["refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
        }
        if fault == "discovery-no-token-endpoint":
            del document["token_endpoint"]
        if fault == "bare":
            document = {"issuer": issuer, "token_endpoint": endpoint}
        return document

    def do_GET(self):
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts[:2] == [".well-known", "oauth-authorization-server"] and parts[2:] == ["rfc8414-only"]:
            return self.send(200, self.metadata("rfc8414-only"))
        fault = parts[0]
        if parts[1:] == [".well-known", "openid-configuration"]:
            if fault == "rfc8414-only":
                return self.send(404, "<h1>Not Found</h1>", "text/html")
            if fault == "wrong-issuer":
                return self.send(200, self.metadata(fault, issuer="https://evil.example.org"))
            if fault == "discovery-html":
                return self.send(200, "<html><title>Welcome</title></html>", "text/html")
            return self.send(200, self.metadata(fault))
        self.send(404, {"error": "not_found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode(errors="replace")
        fault = unquote(self.path.strip("/").split("/")[0])
        name, _, raw = fault.partition("=")
        if raw:
            return self.parameterised(name, raw, body)
        if fault == "ok":
            return self.send(200, TOKEN)
        if fault == "no-expiry":
            return self.send(200, {k: v for k, v in TOKEN.items() if k != "expires_in"})
        if fault == "jwt-no-expiry":
            def part(data):
                return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
            jwt = ".".join([part({"alg": "none"}), part({"exp": int(time.time()) + 120}), "sig"])
            return self.send(200, {"access_token": jwt, "token_type": "Bearer"})
        if fault == "non-json":
            return self.send(200, "access_token=abc&token_type=bearer", "text/plain")
        if fault == "empty-400":
            return self.send(400, b"")
        if fault == "empty-500":
            return self.send(500, b"")
        if fault == "html-500":
            return self.send(500, "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
                             "text/html")
        if fault == "html-200":
            return self.send(200, "<html><head><title>Login</title></head><body>SSO portal</body></html>",
                             "text/html")
        if fault == "missing-field":
            return self.send(200, {"token_type": "Bearer", "expires_in": 60})
        if fault == "wrong-type":
            return self.send(200, {"access_token": "x", "token_type": 7, "expires_in": "soon"})
        if fault == "not-object":
            return self.send(200, ["access_token"])
        if fault == "hang":
            time.sleep(60)
            return self.send(200, TOKEN)
        if fault == "huge":
            padding = "x" * (2 * 1024 * 1024)
            return self.send(200, {**TOKEN, "padding": padding})
        if fault == "redirect":
            return self.send(307, b"", headers=[("Location", f"{self.base()}/ok/endpoint")])
        if fault == "oauth-error":
            return self.send(400, {"error": "invalid_grant", "error_description": "The refresh token is revoked."})
        if fault == "echo-secret":
            from urllib.parse import parse_qs
            echoed = " ".join(v for values in parse_qs(body).values() for v in values)
            auth = self.headers.get("Authorization", "")
            return self.send(400, {"error": "invalid_request", "error_description": f"bad request: {echoed} {auth}"})
        if fault == "pending-428":
            return self.send(428, {"error": "authorization_pending"})
        return self.send(200, TOKEN)


    def parameterised(self, name, raw, body):
        def with_raw(document, key):
            # json.dumps cannot write 1e400 or a bare huge literal as the attacker would: splice RAW in.
            text = json.dumps({**document, key: "@RAW@"})
            return text.replace('"@RAW@"', raw)
        is_token_request = "grant_type=" in body
        if name == "expires-in":
            return self.send(200, with_raw(TOKEN, "expires_in"))
        if name == "access-token":
            return self.send(200, with_raw(TOKEN, "access_token"))
        if name == "token-type":
            return self.send(200, with_raw(TOKEN, "token_type"))
        if name == "invalid-grant-status":
            return self.send(int(raw), {"error": "invalid_grant", "error_description": "The refresh token is invalid."})
        if name == "error-status":
            status, _, code = raw.partition(":")
            return self.send(int(status), {"error": code,
                                           "error_description": "Refresh token for value fault-refresh-token was not found"})
        if name == "refresh-token":
            if raw == "absent":
                return self.send(200, {k: v for k, v in TOKEN.items() if k != "refresh_token"})
            return self.send(200, with_raw(TOKEN, "refresh_token"))
        if name == "jwt-exp":
            def part(text):
                return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
            jwt = ".".join([part('{"alg":"none"}'), part('{"exp":' + raw + '}'), "sig"])
            return self.send(200, {"access_token": jwt, "token_type": "Bearer", "refresh_token": "fault-server-refresh-token"})
        if name in ("device-expires-in", "device-interval"):
            if is_token_request:
                return self.send(200, TOKEN)
            device = {"device_code": "fault-device-code", "user_code": "FAULT-CODE",
                      "verification_uri": f"{self.base()}/verify", "expires_in": 60, "interval": 1}
            return self.send(200, with_raw(device, "expires_in" if name == "device-expires-in" else "interval"))
        return self.send(404, {"error": "unknown_fault"})


class Server(ThreadingHTTPServer):
    daemon_threads = True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = Server(("127.0.0.1", args.port), Handler)
    print(f"base=http://127.0.0.1:{server.server_address[1]}", flush=True)
    serve_until_parent_exits(server)


if __name__ == "__main__":
    main()
