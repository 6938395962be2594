#!/usr/bin/env python3
"""A mytoken server for Tessera's tests, following the public oidc-mytoken API v0.

No real mytoken server can run here (it is Go + MariaDB), so this one implements the parts a
client uses, with the behaviour of oidc-mytoken/server that a client must cope with:
discovery, access tokens (grant_type=mytoken) with restrictions checked and usages counted,
rotation with seq_no (the previous token is invalid at once; reuse with auto_revoke revokes the
family), sub-mytokens (capabilities inherited when absent, wider clauses dropped, a 400 only with
error_on_restrictions), response types token / short_token / transfer_code, single-use transfer
codes, the OIDC-flow login answered with a polling code (authorization_pending with HTTP 428),
revocation (recursive; 204 even for unknown tokens), server-side templates and profiles with
`include` resolution (templates.py), the profiles endpoint, and the tokeninfo actions introspect,
event_history, subtokens and list_mytokens with usage counts and an event history per token.
README.md names the server version and the files this follows.

Test-only endpoints live under /test/ and on the consent page (/c/<code>).
Python standard library only. Binds 127.0.0.1; writes the chosen port to --port-file.
"""

import argparse
import base64
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from templates import Templates, TemplateError

API = "/api/v0"
PATHS = {
    "access": API + "/token/access",
    "mytoken": API + "/token/my",
    "revoke": API + "/token/revoke",
    "transfer": API + "/token/transfer",
    "tokeninfo": API + "/tokeninfo",
    "profiles": API + "/pt",
}
# The secret fields of a request body; everything else is kept in `requests` for tests to read.
SECRET_FIELDS = ("mytoken", "polling_code", "transfer_code", "token")
# tokeninfo actions (api/v0 tokeninfoAction.go) and the capability each needs (tokeninfo/*.go).
TOKENINFO_ACTIONS = {
    "introspect": "tokeninfo:introspect",
    "event_history": "tokeninfo:history",
    "subtokens": "tokeninfo:subtokens",
    "list_mytokens": "manage_mytokens:list",
}
DEFAULT_CAPABILITIES = ["AT", "tokeninfo"]
RESTRICTION_KEYS = ["nbf", "exp", "scope", "audience", "hosts", "geoip_allow", "geoip_disallow",
                    "usages_AT", "usages_other"]


class APIError(Exception):
    def __init__(self, status, error, description=""):
        super().__init__(error)
        self.status, self.error, self.description = status, error, description


def invalid_token(description=""):
    return APIError(401, "invalid_token", description)


def random_ascii(length):
    """Letters and digits, as the real server's short tokens, transfer and polling codes
    (utils.RandReadableAlphaString): a code never starts with '-' and never needs quoting."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def mom_id(entry):
    """The "manage other mytokens" id: a hash of the token's id, never the id itself."""
    return hashlib.sha256(("mom:" + entry["jti"]).encode()).hexdigest()[:40]


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- capabilities (hierarchical, "read@" prefix = read-only), as the API defines them ---------

def cap_parts(name):
    read_only = name.startswith("read@")
    return (name[5:] if read_only else name).split(":"), read_only


def caps_have(caps, wanted):
    w_parts, w_read = cap_parts(wanted)
    for cap in caps or []:
        parts, read = cap_parts(cap)
        if read and not w_read:
            continue
        if len(parts) <= len(w_parts) and w_parts[:len(parts)] == parts:
            return True
    return False


# --- restrictions ------------------------------------------------------------------------------

def clause_tighter(child, parent):
    """True when `child` allows nothing `parent` does not (oidc-mytoken's Tighten per clause)."""
    def words(c):
        return set((c.get("scope") or "").split())
    if parent.get("nbf") and (not child.get("nbf") or child["nbf"] < parent["nbf"]):
        return False
    if parent.get("exp") and (not child.get("exp") or child["exp"] > parent["exp"]):
        return False
    if parent.get("scope") and (not child.get("scope") or not words(child) <= words(parent)):
        return False
    for key in ("audience", "hosts", "geoip_allow"):
        if parent.get(key) and (not child.get(key) or not set(child[key]) <= set(parent[key])):
            return False
    if parent.get("geoip_disallow") and not set(parent["geoip_disallow"]) <= set(child.get("geoip_disallow") or []):
        return False
    for key in ("usages_AT", "usages_other"):
        if parent.get(key) is not None and (child.get(key) is None or child[key] > parent[key]):
            return False
    return True


def tighten(parent, wanted):
    """(restrictions, ok): wanted clauses not within a parent clause are dropped."""
    if not wanted:
        return [dict(c) for c in parent], True
    if not parent:
        return wanted, True
    kept = [c for c in wanted if any(clause_tighter(c, p) for p in parent)]
    ok = len(kept) == len(wanted)
    if not kept:
        return [dict(c) for c in parent], False
    return kept, ok


def host_matches(pattern, ip):
    try:
        if "/" in pattern:
            return ipaddress.ip_address(ip) in ipaddress.ip_network(pattern, strict=False)
        return ipaddress.ip_address(pattern) == ipaddress.ip_address(ip)
    except ValueError:
        return pattern in ("localhost",) and ipaddress.ip_address(ip).is_loopback


def clean_restrictions(raw, client_ip):
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(c, dict) for c in raw):
        raise APIError(400, "invalid_request", "restrictions must be an array of objects")
    result = []
    for c in raw:
        clause = {k: v for k, v in c.items() if k in RESTRICTION_KEYS and v not in (None, "", [])}
        if "ip" in c and c["ip"]:
            clause["hosts"] = list(clause.get("hosts", [])) + list(c["ip"])
        if "hosts" in clause:
            clause["hosts"] = [client_ip if h == "this" else h for h in clause["hosts"]]
        for key in ("nbf", "exp", "usages_AT", "usages_other"):
            if key in clause and (not isinstance(clause[key], int) or isinstance(clause[key], bool)
                                  or clause[key] < 0):
                raise APIError(400, "invalid_request", "restriction field %s must be a non-negative integer" % key)
        if clause:
            result.append(clause)
    return result


# --- server state ------------------------------------------------------------------------------

class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.RLock()
        self.key = secrets.token_bytes(32)
        self.tokens = {}          # jti -> entry
        self.short_tokens = {}    # short token -> {jti, seq_no}
        self.transfer_codes = {}  # code -> {token, token_type, expires}
        self.polling = {}         # polling code -> {consent, status, expires, request, polls}
        self.consent = {}         # consent code -> polling code
        self.access_tokens = []   # issued ATs: jti, scope, audience, comment
        self.requests = []        # {path, grant_type or action, time, body without secrets}
        self.templates = Templates(args.profiles_dir)

    # tokens

    def sign(self, claims):
        header = b64url(json.dumps({"alg": "HS256", "typ": "MT+JWT"}).encode())
        payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
        mac = hmac.new(self.key, (header + "." + payload).encode(), hashlib.sha256).digest()
        return header + "." + payload + "." + b64url(mac)

    def verify(self, jwt):
        parts = jwt.split(".")
        if len(parts) != 3:
            return None
        mac = hmac.new(self.key, (parts[0] + "." + parts[1]).encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(b64url(mac), parts[2]):
            return None
        try:
            return json.loads(b64url_decode(parts[1]))
        except ValueError:
            return None

    def jwt_for(self, entry):
        now = int(time.time())
        claims = {
            "ver": "0.7", "token_type": "mytoken", "iss": self.args.issuer, "sub": entry["sub"],
            "iat": now, "nbf": now, "jti": entry["jti"], "seq_no": entry["seq_no"], "aud": self.args.issuer,
            "oidc_sub": entry["sub"], "oidc_iss": self.args.provider, "name": entry["name"],
            "restrictions": entry["restrictions"], "capabilities": entry["capabilities"],
        }
        if entry["exp"]:
            claims["exp"] = entry["exp"]
        if entry["subtoken_capabilities"]:
            claims["subtoken_capabilities"] = entry["subtoken_capabilities"]
        if entry["rotation"]:
            claims["rotation"] = entry["rotation"]
        return self.sign(claims)

    def create(self, sub, restrictions, capabilities, subtoken_capabilities, rotation, name, parent, meta):
        exps = [c.get("exp") for c in restrictions]
        exp = max(exps) if exps and all(exps) else 0
        if rotation and rotation.get("lifetime"):
            exp = min(exp or 1 << 62, int(time.time()) + int(rotation["lifetime"]))
        entry = {
            "jti": secrets.token_hex(16), "sub": sub, "seq_no": 1, "parent": parent, "name": name or "",
            "restrictions": restrictions, "capabilities": capabilities,
            "subtoken_capabilities": subtoken_capabilities, "rotation": rotation or None, "revoked": False,
            "exp": exp, "usages": [{"usages_AT_done": 0, "usages_other_done": 0} for _ in restrictions],
            "created": time.time(), "ip": meta.get("ip", ""), "user_agent": meta.get("user_agent", ""),
            "events": [],
        }
        self.tokens[entry["jti"]] = entry
        self.event(entry, "created", meta)
        return entry

    @staticmethod
    def event(entry, name, meta, comment=""):
        """One line of the token's history (api/v0 event.go names)."""
        record = {"event": name, "time": int(time.time()), "ip": meta.get("ip", ""),
                  "user_agent": meta.get("user_agent", ""), "mom_id": mom_id(entry)}
        if comment:
            record["comment"] = comment
        entry["events"].append(record)

    def tree(self, entry):
        """MytokenEntryTree: this token and its live sub-tokens (revoked ones are gone, as in the
        real server, which deletes them)."""
        node = {"name": entry["name"], "created": int(entry["created"]), "mom_id": mom_id(entry)}
        if entry["exp"]:
            node["expires_at"] = entry["exp"]
        if entry["ip"]:
            node["ip"] = entry["ip"]
        if entry["user_agent"]:
            node["user_agent"] = entry["user_agent"]
        if not node["name"]:
            del node["name"]
        tree = {"token": node}
        children = [self.tree(t) for t in self.tokens.values() if t["parent"] == entry["jti"] and not t["revoked"]]
        if children:
            tree["children"] = children
        return tree

    def issue(self, entry, response_type, max_token_len=0):
        """The token response for `entry` in the requested form."""
        jwt = self.jwt_for(entry)
        expires_in = max(entry["exp"] - int(time.time()), 0) if entry["exp"] else 0
        body = {"restrictions": entry["restrictions"], "capabilities": entry["capabilities"]}
        if entry["subtoken_capabilities"]:
            body["subtoken_capabilities"] = entry["subtoken_capabilities"]
        if entry["rotation"]:
            body["rotation"] = entry["rotation"]
        if expires_in:
            body["expires_in"] = expires_in
        if response_type == "token" and max_token_len and len(jwt) > max_token_len:
            response_type = "short_token"
        if response_type == "transfer_code":
            code = self.new_transfer_code(jwt, "token")
            body.update({"mytoken_type": "transfer_code", "transfer_code": code,
                         "expires_in": self.args.transfer_code_lifetime})
            return body
        if response_type == "short_token":
            short = random_ascii(64)
            self.short_tokens[short] = {"jti": entry["jti"], "seq_no": entry["seq_no"]}
            body.update({"mytoken": short, "mytoken_type": "short_token"})
            return body
        body.update({"mytoken": jwt, "mytoken_type": "token"})
        return body

    def new_transfer_code(self, token, token_type):
        code = random_ascii(16)
        self.transfer_codes[code] = {"token": token, "token_type": token_type,
                                     "expires": time.time() + self.args.transfer_code_lifetime}
        return code

    def descendants(self, jti):
        found = [jti]
        for child in [t for t in self.tokens.values() if t["parent"] == jti]:
            found += self.descendants(child["jti"])
        return found

    def revoke(self, jti, recursive):
        for j in (self.descendants(jti) if recursive else [jti]):
            self.tokens[j]["revoked"] = True

    def authenticate(self, token):
        """(entry, claims, token_type) for a presented mytoken, or 401 invalid_token."""
        if not isinstance(token, str) or not token:
            raise invalid_token("required parameter 'mytoken' missing")
        token_type = "token"
        if token.count(".") != 2:
            claims = self.short_tokens.get(token)
            if claims is None:
                raise invalid_token()
            entry = self.tokens[claims["jti"]]
            token_type = "short_token"
        else:
            claims = self.verify(token)
            if claims is None:
                raise invalid_token("token is not a valid mytoken")
            entry = self.tokens.get(claims.get("jti"))
        if entry is None or entry["revoked"]:
            raise invalid_token()
        if entry["exp"] and entry["exp"] < time.time():
            raise invalid_token("token is expired")
        if claims.get("seq_no") != entry["seq_no"]:
            # A rotated-away token: someone replays an old copy.
            if entry["rotation"] and entry["rotation"].get("auto_revoke"):
                self.revoke(entry["jti"], True)
            raise invalid_token("token was rotated")
        return entry, token_type

    def usable_clauses(self, entry, ip, kind):
        """Indices of clauses that allow a use of `kind` ('AT' or 'other') now from `ip`."""
        now = int(time.time())
        usable = []
        for i, c in enumerate(entry["restrictions"]):
            if c.get("nbf") and c["nbf"] > now:
                continue
            if c.get("exp") and c["exp"] < now:
                continue
            if c.get("hosts") and not any(host_matches(h, ip) for h in c["hosts"]):
                continue
            country = self.args.client_country
            if c.get("geoip_allow") and country.lower() not in [x.lower() for x in c["geoip_allow"]]:
                continue
            if c.get("geoip_disallow") and country.lower() in [x.lower() for x in c["geoip_disallow"]]:
                continue
            limit = c.get("usages_AT" if kind == "AT" else "usages_other")
            done = entry["usages"][i]["usages_AT_done" if kind == "AT" else "usages_other_done"]
            if limit is not None and done >= limit:
                continue
            usable.append(i)
        return usable

    def check_other(self, entry, ip, capability):
        """Checks restrictions and capability for a non-AT use; returns the clause index to count."""
        index = None
        if entry["restrictions"]:
            usable = self.usable_clauses(entry, ip, "other")
            if not usable:
                raise APIError(403, "usage_restricted", "The restrictions of this token does not allow this usage")
            index = usable[0]
        if capability and not caps_have(entry["capabilities"], capability):
            raise APIError(403, "insufficient_capabilities",
                           "The provided token does not have the required capability for this operation")
        return index

    @staticmethod
    def count_other(entry, index):
        if index is not None:
            entry["usages"][index]["usages_other_done"] += 1

    def rotate(self, entry, token_type, trigger, meta=None):
        """A token_update when the entry's rotation policy says so, else None."""
        rotation = entry["rotation"] or {}
        if not rotation.get("on_AT" if trigger == "AT" else "on_other"):
            return None
        entry["seq_no"] += 1
        self.event(entry, "token_rotated", meta or {})
        if rotation.get("lifetime"):
            entry["exp"] = int(time.time()) + int(rotation["lifetime"])
        return self.issue(entry, token_type)


# --- HTTP --------------------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    server_version = "mytoken-test/0.7"
    protocol_version = "HTTP/1.1"
    # One write per response (handle_one_request flushes) and no Nagle: otherwise headers and
    # body go out as two segments and the client's delayed ACK adds 40 ms to every request.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.command, fmt % args))

    @property
    def state(self):
        return self.server.state

    def send_json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def send_empty(self, status):
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def json_body(self):
        raw = self.read_body()
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise APIError(400, "invalid_request", "request body is not JSON")
        if not isinstance(body, dict):
            raise APIError(400, "invalid_request", "request body must be a JSON object")
        return body

    def base(self):
        return self.state.args.issuer

    def meta(self):
        """ClientMetaData of this request."""
        return {"ip": self.client_address[0], "user_agent": self.headers.get("User-Agent") or ""}

    def templated(self, body):
        """The request body with its profile includes and templates resolved, as the real server
        unmarshals every mytoken request (profiled.GeneralMytokenRequest)."""
        try:
            return self.state.templates.request(body)
        except TemplateError as e:
            raise APIError(400, "invalid_request", str(e))

    def do_GET(self):
        path = urllib.parse.urlparse(self.path).path
        try:
            with self.state.lock:
                if path == "/.well-known/mytoken-configuration":
                    return self.send_json(200, self.configuration())
                if path == "/test/tokens":
                    return self.send_json(200, self.snapshot())
                if path.startswith("/c/"):
                    return self.consent_page(path[3:])
                if path == PATHS["profiles"] or path.startswith(PATHS["profiles"] + "/"):
                    return self.profiles(path[len(PATHS["profiles"]):])
            self.send_json(404, {"error": "not_found", "error_description": "no such endpoint"})
        except APIError as e:
            self.send_json(e.status, {"error": e.error, "error_description": e.description})

    def do_POST(self):
        path = urllib.parse.urlparse(self.path).path
        try:
            with self.state.lock:
                if path.startswith("/c/"):
                    return self.consent_decision(path[3:])
                body = self.json_body()
                self.state.requests.append({"path": path, "grant_type": body.get("grant_type") or body.get("action"),
                                            "time": time.time(),
                                            "body": {k: v for k, v in body.items() if k not in SECRET_FIELDS}})
                handlers = {
                    PATHS["access"]: self.access_token,
                    PATHS["mytoken"]: self.mytoken_endpoint,
                    PATHS["revoke"]: self.revocation,
                    PATHS["transfer"]: self.create_transfer_code,
                    PATHS["tokeninfo"]: self.tokeninfo,
                    "/test/lookup": self.test_lookup,
                    "/test/mint": self.test_mint,
                    "/test/templates": self.test_templates,
                }
                handler = handlers.get(path)
                if handler is None:
                    return self.send_json(404, {"error": "not_found", "error_description": "no such endpoint"})
                status, response = handler(body)
            if response is None:
                self.send_empty(status)
            else:
                self.send_json(status, response)
        except APIError as e:
            body = {"error": e.error}
            if e.description:
                body["error_description"] = e.description
            self.send_json(e.status, body)

    # discovery

    def configuration(self):
        b = self.base()
        return {
            "issuer": b,
            "access_token_endpoint": b + PATHS["access"],
            "token_endpoint": b + PATHS["access"],
            "mytoken_endpoint": b + PATHS["mytoken"],
            "tokeninfo_endpoint": b + PATHS["tokeninfo"],
            "revocation_endpoint": b + PATHS["revoke"],
            "usersettings_endpoint": b + API + "/settings",
            "token_transfer_endpoint": b + PATHS["transfer"],
            "jwks_uri": b + "/jwks",
            "providers_supported": [{"issuer": self.state.args.provider, "name": "Test provider",
                                     "scopes_supported": self.state.args.scopes.split()}],
            "token_signing_alg_value": "HS256",
            "profiles_endpoint": b + PATHS["profiles"],
            "tokeninfo_endpoint_actions_supported": list(TOKENINFO_ACTIONS),
            "access_token_endpoint_grant_types_supported": ["mytoken"],
            "mytoken_endpoint_grant_types_supported": ["oidc_flow", "mytoken", "transfer_code", "polling_code"],
            "mytoken_endpoint_oidc_flows_supported": ["authorization_code"],
            "response_types_supported": ["token", "short_token", "transfer_code"],
            "restriction_claims_supported": RESTRICTION_KEYS,
            "version": "0.7.0-test",
        }

    # access tokens

    def access_token(self, body):
        st = self.state
        if body.get("grant_type") != "mytoken":
            raise APIError(400, "invalid_grant", "Unsupported grant_type")
        entry, token_type = st.authenticate(body.get("mytoken"))
        ip = self.client_address[0]
        scope_req, aud_req = body.get("scope") or "", body.get("audience") or ""
        if not isinstance(scope_req, str) or not isinstance(aud_req, str):
            raise APIError(400, "invalid_request", "scope and audience are space-separated strings")
        used = None
        scopes, audiences = st.args.scopes, ""
        if entry["restrictions"]:
            usable = st.usable_clauses(entry, ip, "AT")
            if not usable:
                raise APIError(403, "usage_restricted", "The restrictions of this token does not allow this usage")
            want_s, want_a = set(scope_req.split()), set(aud_req.split())
            fitting = [i for i in usable
                       if (not entry["restrictions"][i].get("scope")
                           or want_s <= set(entry["restrictions"][i]["scope"].split()))
                       and (not entry["restrictions"][i].get("audience")
                            or want_a <= set(entry["restrictions"][i]["audience"]))]
            if not fitting:
                raise APIError(403, "usage_restricted", "The restrictions of this token does not allow this usage")
            used = fitting[0]
            clause = entry["restrictions"][used]
            scopes = scope_req or clause.get("scope") or st.args.scopes
            audiences = aud_req or " ".join(clause.get("audience") or [])
        if not caps_have(entry["capabilities"], "AT"):
            raise APIError(403, "insufficient_capabilities",
                           "The provided token does not have the required capability for this operation")
        issuer = body.get("oidc_issuer")
        if issuer and issuer != st.args.provider:
            raise APIError(400, "invalid_request", "token not for specified issuer")
        if used is not None:
            entry["usages"][used]["usages_AT_done"] += 1
        at = "at_" + secrets.token_urlsafe(32)
        st.access_tokens.append({"jti": entry["jti"], "scope": scopes, "audience": audiences.split(),
                                 "comment": body.get("comment") or "", "fingerprint": at[-6:]})
        st.event(entry, "AT_created", self.meta(), body.get("comment") or "")
        response = {"access_token": at, "token_type": "Bearer", "expires_in": st.args.at_lifetime, "scope": scopes}
        if audiences:
            response["audience"] = audiences.split()
        update = st.rotate(entry, token_type, "AT", self.meta())
        if update:
            response["token_update"] = update
        return 200, response

    # mytoken endpoint

    def mytoken_endpoint(self, body):
        grant = body.get("grant_type")
        if grant == "mytoken":
            return self.sub_mytoken(body)
        if grant == "oidc_flow":
            return self.oidc_flow(body)
        if grant == "polling_code":
            return self.poll(body)
        if grant == "transfer_code":
            return self.exchange_transfer_code(body)
        raise APIError(400, "invalid_grant", "Unsupported grant_type")

    @staticmethod
    def requested_capabilities(body, key="capabilities"):
        caps = body.get(key)
        if caps is None:
            return None
        if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
            raise APIError(400, "invalid_request", "%s must be an array of strings" % key)
        return caps

    @staticmethod
    def rotation_of(body):
        rotation = body.get("rotation")
        if rotation is None:
            return None
        if not isinstance(rotation, dict):
            raise APIError(400, "invalid_request", "rotation must be an object")
        rotation = {k: v for k, v in rotation.items() if k in ("on_AT", "on_other", "lifetime", "auto_revoke") and v}
        return rotation if (rotation.get("on_AT") or rotation.get("on_other")) else None

    @staticmethod
    def response_type_of(body):
        response_type = body.get("response_type") or "token"
        if response_type not in ("token", "short_token", "transfer_code"):
            raise APIError(400, "invalid_request", "unsupported response_type")
        return response_type

    def sub_mytoken(self, body):
        st = self.state
        ip = self.client_address[0]
        body = self.templated(body)
        parent, token_type = st.authenticate(body.get("mytoken"))
        requested = clean_restrictions(body.get("restrictions"), ip)
        caps = self.requested_capabilities(body)
        sub_caps = self.requested_capabilities(body, "subtoken_capabilities")
        rotation = self.rotation_of(body)
        response_type = self.response_type_of(body)
        max_len = body.get("max_token_len") or 0
        if caps is not None and not caps:
            raise APIError(400, "invalid_request", "capabilities cannot be empty")
        used = st.check_other(parent, ip, "create_mytoken")
        restrictions, ok = tighten(parent["restrictions"], requested)
        if not ok and body.get("error_on_restrictions"):
            raise APIError(400, "invalid_request", "requested restrictions are not subset of original restrictions")
        from_parent = parent["subtoken_capabilities"] or parent["capabilities"]
        granted = list(from_parent) if caps is None else [c for c in caps if caps_have(from_parent, c)]
        if not granted:
            raise APIError(400, "invalid_request", "mytoken to be issued cannot have any of the requested capabilities")
        granted_sub = None
        if sub_caps and caps_have(granted, "create_mytoken"):
            granted_sub = [c for c in sub_caps if caps_have(from_parent, c)] or None
        st.count_other(parent, used)
        child = st.create(parent["sub"], restrictions, granted, granted_sub, rotation, body.get("name"), parent["jti"],
                          self.meta())
        st.event(parent, "MT_created", self.meta())
        response = st.issue(child, response_type, max_len)
        update = st.rotate(parent, token_type, "other", self.meta())
        if update:
            response["token_update"] = update
        return 200, response

    def oidc_flow(self, body):
        st = self.state
        body = self.templated(body)
        if body.get("oidc_issuer") != st.args.provider:
            raise APIError(400, "invalid_request", "The provided issuer is not supported")
        if body.get("oidc_flow") != "authorization_code":
            raise APIError(400, "invalid_grant", "Unsupported oidc_flow")
        request = {
            "restrictions": clean_restrictions(body.get("restrictions"), self.client_address[0]),
            "capabilities": self.requested_capabilities(body) or DEFAULT_CAPABILITIES,
            "subtoken_capabilities": self.requested_capabilities(body, "subtoken_capabilities"),
            "rotation": self.rotation_of(body),
            "name": body.get("name") or "",
            "response_type": self.response_type_of(body),
            "meta": self.meta(),
        }
        polling_code = random_ascii(32)
        consent = secrets.token_urlsafe(12)
        st.polling[polling_code] = {"consent": consent, "status": "pending", "request": request, "polls": [],
                                    "expires": time.time() + st.args.polling_code_lifetime, "subject": None}
        st.consent[consent] = polling_code
        return 200, {"consent_uri": self.base() + "/c/" + consent, "polling_code": polling_code,
                     "expires_in": st.args.polling_code_lifetime, "interval": st.args.polling_interval}

    def poll(self, body):
        st = self.state
        code = body.get("polling_code")
        flow = st.polling.get(code) if isinstance(code, str) else None
        if flow is None:
            raise APIError(401, "invalid_token", "Bad polling or transfer code")
        flow["polls"].append(time.time())
        if flow["status"] == "denied":
            raise APIError(401, "access_denied", "user declined consent")
        if flow["expires"] < time.time():
            raise APIError(401, "expired_token", "polling or transfer code is expired")
        if flow["status"] == "pending":
            raise APIError(428, "authorization_pending")
        req = flow["request"]
        del st.polling[code]
        entry = st.create(flow["subject"], req["restrictions"], req["capabilities"], req["subtoken_capabilities"],
                          req["rotation"], req["name"], None, req["meta"])
        return 200, st.issue(entry, req["response_type"])

    # transfer codes

    def create_transfer_code(self, body):
        st = self.state
        token = body.get("mytoken") or ""
        auth = self.headers.get("Authorization") or ""
        if not token and auth.startswith("Bearer "):
            token = auth[7:]
        if not token:
            raise APIError(401, "invalid_request", "required parameter 'mytoken' missing")
        entry, token_type = st.authenticate(token)
        code = st.new_transfer_code(token, token_type)
        st.event(entry, "transfer_code_created", self.meta())
        return 200, {"mytoken_type": "transfer_code", "transfer_code": code,
                     "expires_in": st.args.transfer_code_lifetime}

    def exchange_transfer_code(self, body):
        st = self.state
        code = body.get("transfer_code")
        entry = st.transfer_codes.get(code) if isinstance(code, str) else None
        if entry is None:
            raise APIError(401, "invalid_token", "Bad polling or transfer code")
        if entry["expires"] < time.time():
            del st.transfer_codes[code]
            raise APIError(401, "expired_token", "polling or transfer code is expired")
        del st.transfer_codes[code]
        token, _ = st.authenticate(entry["token"])
        st.event(token, "transfer_code_used", self.meta())
        response = {"mytoken": entry["token"], "mytoken_type": entry["token_type"],
                    "restrictions": token["restrictions"], "capabilities": token["capabilities"]}
        if token["exp"]:
            response["expires_in"] = max(token["exp"] - int(time.time()), 0)
        return 200, response

    # revocation

    def revocation(self, body):
        st = self.state
        token = body.get("token") or ""
        recursive = bool(body.get("recursive"))
        if token in st.transfer_codes:
            del st.transfer_codes[token]
            return 204, None
        jti = None
        if token.count(".") == 2:
            claims = st.verify(token)
            jti = claims.get("jti") if claims else None
        else:
            jti = (st.short_tokens.get(token) or {}).get("jti")
        entry = st.tokens.get(jti)
        if entry is not None:
            issuer = body.get("oidc_issuer")
            if issuer and issuer != st.args.provider:
                raise APIError(400, "invalid_request", "token not for specified issuer")
            st.revoke(jti, recursive)
        return 204, None

    # tokeninfo

    def tokeninfo(self, body):
        """The tokeninfo endpoint (server internal/endpoints/tokeninfo): the action is read before
        the token (an unknown one is a 400 whatever the token), an absent action is introspect
        (the zero value of the server's enum)."""
        st = self.state
        action = body.get("action", "introspect")
        if action not in TOKENINFO_ACTIONS:
            if action == "notifications":
                raise APIError(400, "invalid_request", "the test server does not implement notifications")
            raise APIError(400, "invalid_request", "value '%s' not valid for TokeninfoAction" % action)
        entry, token_type = st.authenticate(body.get("mytoken"))
        if not caps_have(entry["capabilities"], TOKENINFO_ACTIONS[action]):
            raise APIError(403, "insufficient_capabilities",
                           "The provided token does not have the required capability for this operation")
        meta = self.meta()
        if action == "introspect":
            # Introspection needs the capability only: no restriction is checked or counted.
            claims = st.verify(st.jwt_for(entry))
            claims["restrictions"] = self.used_restrictions(entry)
            st.event(entry, "tokeninfo_introspect", meta)
            return 200, {"valid": True, "token_type": token_type, "token": claims, "mom_id": mom_id(entry)}
        used = None
        if entry["restrictions"]:
            usable = st.usable_clauses(entry, self.client_address[0], "other")
            if not usable:
                raise APIError(403, "usage_restricted", "The restrictions of this token does not allow this usage")
            used = usable[0]
        if action == "event_history":
            response = {"events": [dict(e) for e in entry["events"]]}
            event = "tokeninfo_history"
        elif action == "subtokens":
            response = {"mytokens": st.tree(entry)}
            event = "tokeninfo_subtokens"
        else:
            roots = [t for t in st.tokens.values()
                     if t["sub"] == entry["sub"] and t["parent"] is None and not t["revoked"]]
            response = {"mytokens": [st.tree(t) for t in roots]}
            event = "tokeninfo_list_mytokens"
        st.count_other(entry, used)
        update = st.rotate(entry, token_type, "other", meta)
        if update:
            response["token_update"] = update
        st.event(entry, event, meta)
        return 200, response

    # profiles endpoint (server internal/endpoints/profiles, routes in internal/server/api.go)

    def profiles(self, rest):
        """GET <profiles_endpoint> lists the groups; GET …/[GROUP/]KIND the group's templates of
        that kind with their payloads parsed (includes resolved, relative times computed)."""
        parts = [p for p in rest.split("/") if p]
        st = self.state
        if not parts:
            return self.send_json(200, sorted(st.templates.groups))
        if len(parts) in (1, 2) and parts[-1] in ("profiles", "capabilities", "restrictions", "rotation"):
            group = parts[0] if len(parts) == 2 else "_"
            try:
                return self.send_json(200, st.templates.listing(group, parts[-1]))
            except TemplateError as e:
                return self.send_json(500, {"error": "internal_server_error", "error_description": str(e)})
        return self.send_json(404, {"error": "not_found", "error_description": "no such endpoint"})

    @staticmethod
    def used_restrictions(entry):
        return [dict(c, **u) for c, u in zip(entry["restrictions"], entry["usages"])]

    # test endpoints

    def describe(self, entry):
        return {
            "jti": entry["jti"], "parent": entry["parent"], "name": entry["name"], "subject": entry["sub"],
            "seq_no": entry["seq_no"], "revoked": entry["revoked"], "exp": entry["exp"],
            "restrictions": entry["restrictions"], "usages": entry["usages"],
            "capabilities": entry["capabilities"], "subtoken_capabilities": entry["subtoken_capabilities"],
            "rotation": entry["rotation"], "events": entry["events"],
            "children": [t["jti"] for t in self.state.tokens.values() if t["parent"] == entry["jti"]],
        }

    def snapshot(self):
        st = self.state
        return {
            "tokens": [self.describe(t) for t in st.tokens.values()],
            "access_tokens": st.access_tokens,
            "transfer_codes": len(st.transfer_codes),
            "polling": [{"status": p["status"], "polls": p["polls"], "expires": p["expires"]}
                        for p in st.polling.values()],
            "requests": st.requests,
        }

    def test_lookup(self, body):
        """The stored entry behind a token string (JWT or short token), revoked or not."""
        st = self.state
        token = body.get("token") or ""
        jti = None
        if token.count(".") == 2:
            claims = st.verify(token)
            jti = claims.get("jti") if claims else None
            if claims is not None:
                entry = st.tokens.get(jti)
                if entry is None:
                    raise APIError(404, "not_found", "unknown token")
                return 200, dict(self.describe(entry), token_seq_no=claims.get("seq_no"),
                                 current=claims.get("seq_no") == entry["seq_no"])
        short = st.short_tokens.get(token)
        entry = st.tokens.get(short["jti"]) if short else None
        if entry is None:
            raise APIError(404, "not_found", "unknown token")
        return 200, dict(self.describe(entry), token_seq_no=short["seq_no"],
                         current=short["seq_no"] == entry["seq_no"])

    def test_templates(self, body):
        """Adds (or replaces) a template: {group, kind, name, payload}; payload is JSON or names."""
        try:
            self.state.templates.add(body.get("group") or "_", body.get("kind"), body.get("name"), body.get("payload"))
        except TemplateError as e:
            raise APIError(400, "invalid_request", str(e))
        return 204, None

    def test_mint(self, body):
        """A root mytoken without a login, for tests that do not exercise the login."""
        st = self.state
        body = self.templated(body)
        restrictions = clean_restrictions(body.get("restrictions"), self.client_address[0])
        entry = st.create(body.get("subject") or "alice", restrictions,
                          self.requested_capabilities(body) or ["AT", "create_mytoken", "tokeninfo"],
                          self.requested_capabilities(body, "subtoken_capabilities"),
                          self.rotation_of(body), body.get("name") or "", None, self.meta())
        return 200, st.issue(entry, self.response_type_of(body))

    def consent_page(self, consent):
        if consent not in self.state.consent:
            raise APIError(404, "not_found", "unknown consent code")
        page = ("<html><body><form method=post><button name=action value=approve>Approve</button>"
                "<button name=action value=deny>Deny</button></form></body></html>").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def consent_decision(self, consent):
        """Headless consent: POST action=approve|deny (form or JSON), optional subject."""
        st = self.state
        raw = self.read_body().decode()
        if raw.startswith("{"):
            fields = json.loads(raw)
        else:
            fields = {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
        code = st.consent.get(consent)
        flow = st.polling.get(code)
        if flow is None or flow["status"] != "pending":
            return self.send_json(404, {"error": "not_found", "error_description": "unknown or decided consent"})
        action = fields.get("action")
        if action not in ("approve", "deny"):
            return self.send_json(400, {"error": "invalid_request", "error_description": "action=approve|deny"})
        flow["status"] = "approved" if action == "approve" else "denied"
        flow["subject"] = fields.get("subject") or "alice"
        self.send_empty(204)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", help="write the bound port here once listening")
    parser.add_argument("--provider", default="https://op.example.org", help="the OIDC issuer behind the server")
    parser.add_argument("--scopes", default="openid profile email offline_access storage.read storage.write")
    parser.add_argument("--at-lifetime", type=int, default=300)
    parser.add_argument("--polling-interval", type=int, default=1)
    parser.add_argument("--polling-code-lifetime", type=int, default=300)
    parser.add_argument("--transfer-code-lifetime", type=int, default=300)
    parser.add_argument("--client-country", default="DE", help="the country GeoIP gives for every client")
    parser.add_argument("--profiles-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                               "server-profiles"),
                        help="templates of the default group, laid out as the real server's config/server-profiles")
    args = parser.parse_args()

    # The parent may start us with SIGTERM ignored or blocked (Foundation's Process does);
    # stopping by PID must still end the server at once.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: os._exit(0))
    httpd = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    httpd.daemon_threads = True
    port = httpd.server_address[1]
    args.issuer = "http://127.0.0.1:%d" % port
    httpd.state = State(args)
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(port))
        os.replace(args.port_file + ".tmp", args.port_file)
    print("mytoken test server on %s" % args.issuer, flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
