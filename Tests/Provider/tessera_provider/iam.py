"""IAM mode (TESSERA_PROVIDER_IAM=1): the test provider behaves like INDIGO IAM where IAM differs.

From IAM's public sources (indigo-iam/iam, IamOAuth2RequestFactory) and oidc-agent's issues
(see ../../shared/TESTING.md, "INDIGO IAM's behaviour"):

  - the audience is read from `resource`, `aud` and `audience` (the last two space-separated) on
    the device authorization and token requests; the access token is a JWT (RS256, the provider's
    key) whose `aud` claim holds it
  - a `resource` that is not an absolute URI without query or fragment: 400 invalid_target
    "Not a valid URI: …"
  - on a refresh, a `resource` not granted at authorization: 400 invalid_target
    "The requested resource was not originally granted"
  - an unknown, revoked or expired refresh token: 401 invalid_token
    "Refresh token for value <token> was not found" (IAM quotes the token; clients must scrub it)
  - dynamic registration at /iam/api/client-registration, several grant types per client (not
    the password grant), answering registration_access_token and a registration_client_uri under
    the same path that supports RFC 7592 GET and DELETE; the answer names the client's `scope`
    (the requested scopes the provider supports, else its defaults), which oidc-gen checks
"""
import json
import re
import threading
import time
import uuid

from django import http
from django.conf import settings
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from jwcrypto import jwk, jwt
from oauth2_provider.models import get_application_model
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.views import dynamic_client_registration as dcr

from . import views

REGISTRATION_PATH = "/iam/api/client-registration"
DEVICE_GRANT = views.DEVICE_GRANT
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:.")

_state = threading.local()  # the audience of the request being answered, for the token generator
_lock = threading.Lock()
_granted = {}  # refresh token -> audience granted at authorization (inherited on rotation)
_device_audience = {}  # device code -> audience asked for at device authorization
_client_grants = {}  # client_id -> the RFC 7591 grant types registered (DOT stores only one)
_client_scopes = {}  # client_id -> the scopes registered (IAM keeps a scope list per client)


def _error(error, description, status=400):
    return http.JsonResponse({"error": error, "error_description": description}, status=status)


def _strip_audience(request):
    """Takes resource/aud/audience out of the form (so DOT's RFC 8707 handling never sees them)."""
    post = request.POST.copy()
    resources = post.getlist("resource")
    audiences = [word for key in ("aud", "audience") for value in post.getlist(key) for word in value.split()]
    for key in ("resource", "aud", "audience"):
        post.pop(key, None)
    request.POST = post
    return resources, audiences


def _invalid_resource(resources):
    for value in resources:
        if not _SCHEME.match(value) or "?" in value or "#" in value or any(c.isspace() for c in value):
            return _error("invalid_target", f"Not a valid URI: {value}")
    return None


def access_token(request, refresh_token=False):
    """ACCESS_TOKEN_GENERATOR: a signed JWT whose `aud` is the audience of this request."""
    key = jwk.JWK.from_pem(oauth2_settings.OIDC_RSA_PRIVATE_KEY.encode())
    now = int(time.time())
    claims = {
        "iss": settings.ISSUER,
        "sub": getattr(getattr(request, "user", None), "username", None) or request.client_id,
        "client_id": request.client_id,
        "scope": " ".join(request.scopes or []),
        "iat": now,
        "nbf": now,
        "exp": now + int(getattr(request, "expires_in", None) or oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS),
        "jti": str(uuid.uuid4()),
    }
    audience = getattr(_state, "audience", None)
    if audience:
        claims["aud"] = audience[0] if len(audience) == 1 else audience
    token = jwt.JWT(header={"alg": "RS256", "kid": key.thumbprint(), "typ": "at+jwt"}, claims=claims)
    token.make_signed_token(key)
    return token.serialize()


class DeviceAuthorizationView(views.DeviceAuthorizationView):
    def post(self, request, *args, **kwargs):
        resources, audiences = _strip_audience(request)
        refused = _invalid_resource(resources)
        if refused:
            return refused
        response = super().post(request, *args, **kwargs)
        if response.status_code == 200:
            with _lock:
                _device_audience[json.loads(response.content)["device_code"]] = resources + audiences
        return response


@method_decorator(csrf_exempt, name="dispatch")
class TokenView(views.TokenView):
    def post(self, request, *args, **kwargs):
        grant_type = request.POST.get("grant_type", "")
        presented = request.POST.get("refresh_token", "")
        resources, audiences = _strip_audience(request)
        refused = _invalid_resource(resources)
        if refused:
            return refused
        requested = resources + audiences
        with _lock:
            if grant_type == "refresh_token":
                granted = _granted.get(presented, [])
                if any(value not in granted for value in resources):
                    return _error("invalid_target", "The requested resource was not originally granted")
            elif grant_type == DEVICE_GRANT:
                granted = requested or _device_audience.get(request.POST.get("device_code", ""), [])
            else:
                granted = requested
        _state.audience = requested or granted
        try:
            response = super().post(request, *args, **kwargs)
        finally:
            _state.audience = None
        if response.status_code == 200:
            body = json.loads(response.content)
            if body.get("refresh_token"):
                with _lock:
                    _granted[body["refresh_token"]] = granted
        elif grant_type == "refresh_token" and response.status_code == 400:
            error = json.loads(response.content or b"{}").get("error")
            if error == "invalid_grant":
                return _error("invalid_token", f"Refresh token for value {presented} was not found", status=401)
        return response


def _iam_answer(response, client_id=None):
    """DOT's registration answer with IAM's management URI and every grant type registered."""
    if response.status_code not in (200, 201):
        return response
    body = json.loads(response.content)
    client_id = body.get("client_id", client_id)
    body["registration_client_uri"] = f"{settings.ISSUER}{REGISTRATION_PATH}/{client_id}"
    with _lock:
        if client_id in _client_grants:
            body["grant_types"] = _client_grants[client_id]
        if client_id in _client_scopes:
            body["scope"] = _client_scopes[client_id]
    return http.JsonResponse(body, status=response.status_code)


@method_decorator(csrf_exempt, name="dispatch")
class RegistrationView(dcr.DynamicClientRegistrationView):
    """IAM lets one client have several grants; DOT's model holds one, so the device grant (or the
    first) is stored and `allows_grant_type` below consults the full list."""

    def post(self, request, *args, **kwargs):
        try:
            document = json.loads(request.body)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            return super().post(request, *args, **kwargs)
        grants = document.get("grant_types") or ["authorization_code"]
        if not isinstance(grants, list) or not all(isinstance(g, str) for g in grants):
            return super().post(request, *args, **kwargs)
        if "password" in grants:
            return _error("invalid_client_metadata", "The password grant is not allowed for dynamically registered clients")
        meaningful = [g for g in grants if g != "refresh_token"]
        primary = DEVICE_GRANT if DEVICE_GRANT in meaningful else (meaningful[0] if meaningful else "refresh_token")
        request._body = json.dumps({**document, "grant_types": [primary, "refresh_token"]}).encode()
        response = super().post(request, *args, **kwargs)
        if response.status_code == 201:
            supported = oauth2_settings.SCOPES
            requested = document.get("scope") if isinstance(document.get("scope"), str) else ""
            scopes = [word for word in dict.fromkeys(requested.split()) if word in supported]
            client_id = json.loads(response.content)["client_id"]
            with _lock:
                _client_grants[client_id] = list(dict.fromkeys(grants))
                _client_scopes[client_id] = " ".join(scopes or oauth2_settings.DEFAULT_SCOPES)
        return _iam_answer(response)


@method_decorator(csrf_exempt, name="dispatch")
class RegistrationManagementView(dcr.DynamicClientRegistrationManagementView):
    def get(self, request, client_id, *args, **kwargs):
        return _iam_answer(super().get(request, client_id, *args, **kwargs), client_id)

    def put(self, request, client_id, *args, **kwargs):
        return _error("invalid_request", "Updating a client is not supported by this test provider")

    def delete(self, request, client_id, *args, **kwargs):
        response = super().delete(request, client_id, *args, **kwargs)
        if response.status_code == 204:
            with _lock:
                _client_grants.pop(client_id, None)
                _client_scopes.pop(client_id, None)
        return response


_DOT_GRANT = {"authorization_code": "authorization-code", "password": "password",
              "client_credentials": "client-credentials", DEVICE_GRANT: DEVICE_GRANT}


def install():
    """Lets a registered client use every grant type it registered (IAM: several per client)."""
    Application = get_application_model()
    stock = Application.allows_grant_type

    def allows_grant_type(self, *grant_types):
        with _lock:
            registered = _client_grants.get(self.client_id)
        if registered and any(_DOT_GRANT.get(g) in grant_types for g in registered):
            return True
        return stock(self, *grant_types)

    Application.allows_grant_type = allows_grant_type
