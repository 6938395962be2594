#!/usr/bin/env python3
"""What the benchmark asks of the test provider, stdlib only (a fresh machine may lack curl).

  oauth.py refresh-token ISSUER CLIENT_ID USER   password grant; prints the refresh token.
                                                 The client secret and the user's password come
                                                 from $CLIENT_SECRET and $USER_PASSWORD (never argv).
  oauth.py refresh-count ISSUER                  refresh-token grants the provider has answered
                                                 so far (its loopback-only /test/stats endpoint)
"""
import base64
import json
import os
import sys
import urllib.parse
import urllib.request

SCOPE = "openid profile offline_access read"


def refresh_token(issuer, client_id, user):
    form = urllib.parse.urlencode({
        "grant_type": "password", "username": user, "password": os.environ["USER_PASSWORD"], "scope": SCOPE,
    }).encode()
    request = urllib.request.Request(f"{issuer}/o/token/", data=form, method="POST")
    credentials = f"{client_id}:{os.environ['CLIENT_SECRET']}".encode()
    request.add_header("Authorization", "Basic " + base64.b64encode(credentials).decode())
    with urllib.request.urlopen(request, timeout=30) as response:
        print(json.load(response)["refresh_token"])


def refresh_count(issuer):
    with urllib.request.urlopen(f"{issuer}/test/stats", timeout=30) as response:
        print(json.load(response)["token_requests"].get("refresh_token", 0))


def main(argv):
    if argv[1:2] == ["refresh-token"] and len(argv) == 5:
        refresh_token(*argv[2:])
    elif argv[1:2] == ["refresh-count"] and len(argv) == 3:
        refresh_count(argv[2])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
