#!/usr/bin/env python3
"""A headless stand-in for the user's browser in authorization code tests (stdlib only).

  browser.py AUTHORIZATION_URL [--user alice] [--deny]

Logs in at the provider's /accounts/login/ form as the user (seeded passwords, ../clients.py),
opens the authorization URL, answers the consent form (Authorize, or Cancel with --deny), then
follows the provider's redirect to the client's loopback redirect URI, as a browser would.
Prints what it did, one line per step, ending with `callback status=<HTTP status> title=<page
title>`; never the authorization code. Exit status 0 when the loopback listener answered.
"""
import argparse
import http.cookiejar
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tessera_provider.clients import USERS  # noqa: E402


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class FormFields(HTMLParser):
    """The <input> fields of the page's first form (hidden ones and the named submit)."""

    def __init__(self):
        super().__init__()
        self.fields = {}
        self.in_form = False
        self.done = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and not self.done:
            self.in_form = True
        elif tag == "input" and self.in_form and attrs.get("name") and attrs.get("type") != "submit":
            self.fields[attrs["name"]] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form" and self.in_form:
            self.in_form, self.done = False, True


class Browser:
    def __init__(self):
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect)

    def request(self, url, form=None):
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(url, data=data, headers={"Referer": url})
        try:
            with self.opener.open(request, timeout=10) as response:
                return response.status, response.headers, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read().decode("utf-8", "replace")

    def form(self, url):
        status, _, body = self.request(url)
        parser = FormFields()
        parser.feed(body)
        return status, parser.fields, body


def step(text):
    print(text, flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--user", default="alice")
    parser.add_argument("--deny", action="store_true")
    args = parser.parse_args()

    base = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(args.url))
    browser = Browser()

    login = f"{base}/accounts/login/"
    status, fields, _ = browser.form(login)
    fields.update(username=args.user, password=USERS[args.user])
    status, headers, _ = browser.request(login, fields)
    if status != 302:
        step(f"login as {args.user} failed: HTTP {status}")
        return 1
    step(f"logged in as {args.user}")

    status, fields, body = browser.form(args.url)
    if status != 200 or "csrfmiddlewaretoken" not in fields:
        step(f"no consent form: HTTP {status}: {re.sub(r'<[^>]+>', ' ', body)[:300]!r}")
        return 1
    if not args.deny:
        fields["allow"] = "Authorize"
    status, headers, _ = browser.request(args.url, fields)
    location = headers.get("Location", "")
    if status != 302 or not location:
        step(f"the consent answer did not redirect: HTTP {status}")
        return 1
    target = urllib.parse.urlsplit(location)
    step(f"{'denied' if args.deny else 'approved'}; redirected to {target.scheme}://{target.netloc}{target.path}")

    status, _, body = browser.request(location)
    title = re.search(r"<title>([^<]*)</title>", body)
    step(f"callback status={status} title={title.group(1) if title else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
