#!/usr/bin/env python3
"""Tessera's test OpenID provider.

  serve.py --prepare TEMPLATE.sqlite     migrate and seed a database file once
  serve.py --db FILE [--port N]          serve it on 127.0.0.1 (port 0 = a free one)

When serving, the first line on stdout is `issuer=http://127.0.0.1:PORT`, printed once the socket
listens (readiness), followed by the seeded users and clients. Lifetimes come from the environment
(see tessera_provider/settings.py).
"""
import argparse
import os
import socket
import sys
import threading
import time
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tessera_provider.settings")

from parent_watch import serve_until_parent_exits  # noqa: E402 (needs the path above)


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    address_family = socket.AF_INET


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        if os.environ.get("TESSERA_PROVIDER_ACCESS_LOG") == "1":
            super().log_message(format, *args)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--prepare", metavar="TEMPLATE")
    parser.add_argument("--db")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    if args.prepare:
        os.environ["TESSERA_PROVIDER_DB"] = args.prepare
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        call_command("seed", verbosity=0)
        return

    if not args.db:
        parser.error("--db or --prepare is required")
    # Bind first, so the issuer the settings read already carries the real port.
    server = make_server("127.0.0.1", args.port, None, ThreadingServer, QuietHandler)
    port = server.server_address[1]
    os.environ["TESSERA_PROVIDER_ISSUER"] = f"http://127.0.0.1:{port}"
    os.environ["TESSERA_PROVIDER_DB"] = args.db
    from django.core.wsgi import get_wsgi_application

    django_app = get_wsgi_application()
    # sqlite under concurrent writers answers "database is locked" (a 500); the provider is a
    # test fixture, so one request at a time is the simple, exact fix.
    one_at_a_time = threading.Lock()

    from tessera_provider import views

    def app(environ, start_response):
        with one_at_a_time:
            body = list(django_app(environ, start_response))
        # A slow answer (views.refresh_answer_delay) waits here, so other requests go on.
        delay = views.take_answer_delay()
        if delay:
            time.sleep(delay)
        return body

    server.set_app(app)
    from tessera_provider.clients import CLIENTS, USERS

    print(f"issuer=http://127.0.0.1:{port}", flush=True)
    for username, password in USERS.items():
        print(f"user {username} password={password}")
    for client in CLIENTS:
        secret = client["client_secret"] or "(public)"
        print(f"client {client['client_id']} grant={client['grant']} secret={secret}")
    print(f"approve a device login: curl http://127.0.0.1:{port}/test/device/USER_CODE/approve  (deny, expire)")
    print(f"statistics: curl http://127.0.0.1:{port}/test/stats")
    sys.stdout.flush()
    serve_until_parent_exits(server)


if __name__ == "__main__":
    main()
