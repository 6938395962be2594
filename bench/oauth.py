#!/usr/bin/env python3
"""What the benchmark asks of the test provider, stdlib only (a fresh machine may lack curl).

  oauth.py device-refresh-token ISSUER CLIENT_ID [USER]
        a whole device flow, approved headlessly as USER (default alice); prints the refresh
        token. The client secret comes from $CLIENT_SECRET (never argv).
  oauth.py approve ISSUER USER_CODE [USER]
        approves a pending user code (the provider's loopback-only test endpoint)
  oauth.py refresh-count ISSUER
        refresh-token grants the provider has answered so far (its /test/stats endpoint)
"""
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

SCOPE = "openid profile offline_access read"


def post(url, client_id, fields):
    # client_secret_post: the provider's device endpoint wants client_id in the body anyway.
    fields = dict(fields, client_id=client_id, client_secret=os.environ["CLIENT_SECRET"])
    request = urllib.request.Request(url, data=urllib.parse.urlencode(fields).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        return json.load(error)


def approve(issuer, user_code, user="alice"):
    with urllib.request.urlopen(f"{issuer}/test/device/{user_code}/approve?user={user}", timeout=30) as response:
        response.read()


def device_refresh_token(issuer, client_id, user="alice"):
    start = post(f"{issuer}/o/device-authorization/", client_id, {"scope": SCOPE})
    approve(issuer, start["user_code"], user)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(start.get("interval", 1))
        answer = post(f"{issuer}/o/token/", client_id, {
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": start["device_code"],
        })
        if "refresh_token" in answer:
            print(answer["refresh_token"])
            return
        if answer.get("error") not in ("authorization_pending", "slow_down"):
            sys.exit(f"device flow failed: {answer.get('error')}")
    sys.exit("device flow timed out")


def refresh_count(issuer):
    with urllib.request.urlopen(f"{issuer}/test/stats", timeout=30) as response:
        print(json.load(response)["token_requests"].get("refresh_token", 0))


COMMANDS = {"device-refresh-token": (device_refresh_token, 2, 3), "approve": (approve, 2, 3),
            "refresh-count": (refresh_count, 1, 1)}


def main(argv):
    command = COMMANDS.get(argv[1] if len(argv) > 1 else "")
    if command is None or not command[1] <= len(argv) - 2 <= command[2]:
        print(__doc__, file=sys.stderr)
        return 2
    command[0](*argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
