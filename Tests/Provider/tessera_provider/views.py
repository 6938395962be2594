"""django-oauth-toolkit 3.4.1 patched in small subclasses to follow RFC 8628 and OIDC discovery,
plus loopback-only test endpoints (approve/deny/expire a user code, request statistics).

What stock 3.4.1 gets wrong and what is patched here (see ../../shared/TESTING.md):
  - discovery lacks device_authorization_endpoint / revocation_endpoint / registration_endpoint
  - the device code lifetime is fixed at 1800 s and the stored interval at 5 s
  - slow_down is never sent; an expired code keeps answering authorization_pending
  - an approved code can be redeemed twice; an unknown code gives 404 device_not_found
"""
import hashlib
import ipaddress
import json
import threading
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone

from django import http
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider import views as dot
from oauth2_provider.models import get_access_token_model, get_device_grant_model
from oauth2_provider.settings import oauth2_settings

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SLOW_DOWN_STEP = 5  # RFC 8628 §3.5

_lock = threading.Lock()
_token_requests = Counter()  # grant_type -> number of token endpoint requests
_device_polls = defaultdict(list)  # user_code -> monotonic times of each poll
_last_poll = {}  # device_code -> monotonic time of the previous poll (or of the authorization)


def _error(error, description, status=400):
    return http.JsonResponse({"error": error, "error_description": description}, status=status)


def _endpoint(request, view):
    return f"{settings.ISSUER}/o/{view}/"


def _with_rfc8628_endpoints(data, request):
    data["device_authorization_endpoint"] = _endpoint(request, "device-authorization")
    data["revocation_endpoint"] = _endpoint(request, "revoke_token")
    data["introspection_endpoint"] = _endpoint(request, "introspect")
    if oauth2_settings.DCR_ENABLED:
        data["registration_endpoint"] = _endpoint(request, "register")
        if settings.IAM_MODE:
            data["registration_endpoint"] = f"{settings.ISSUER}/iam/api/client-registration"
    data["grant_types_supported"] = [
        "authorization_code", "password", "client_credentials", "refresh_token", DEVICE_GRANT,
    ]
    return data


class DiscoveryView(dot.ConnectDiscoveryInfoView):
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        return http.JsonResponse(_with_rfc8628_endpoints(json.loads(response.content), request))


class ServerMetadataView(dot.OAuthServerMetadataView):
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        return http.JsonResponse(_with_rfc8628_endpoints(json.loads(response.content), request))


class DeviceAuthorizationView(dot.DeviceAuthorizationView):
    """Device code lifetime and interval from the settings, stored on the grant row too."""

    def create_device_authorization_response(self, request):
        headers, response, status = super().create_device_authorization_response(request)
        if status == 200:
            response["expires_in"] = settings.DEVICE_CODE_EXPIRE_SECONDS
            response["interval"] = oauth2_settings.DEVICE_FLOW_INTERVAL
        return headers, response, status

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        if response.status_code == 200:
            body = json.loads(response.content)
            get_device_grant_model().objects.filter(device_code=body["device_code"]).update(
                interval=body["interval"]
            )
            with _lock:
                _last_poll[body["device_code"]] = time.monotonic()
        return response


@method_decorator(csrf_exempt, name="dispatch")
class TokenView(dot.TokenView):
    def post(self, request, *args, **kwargs):
        global _refreshes_answered
        grant_type = request.POST.get("grant_type", "")
        with _lock:
            _token_requests[grant_type] += 1
        response = super().post(request, *args, **kwargs)
        if grant_type == "refresh_token" and response.status_code == 200:
            # The refresh is done (rotated, at a rotating provider); a slow network may still
            # hold the answer back (serve.py waits `_answer.delay` outside its request lock).
            with _lock:
                _refreshes_answered += 1
                _answer.delay = _refresh_answer_delay
        return response


    def device_flow_token_response(self, request, device_code, *args, **kwargs):
        model = get_device_grant_model()
        # One lock around the whole poll: single redemption and slow_down need a consistent view.
        with _lock:
            try:
                device = model.objects.get(device_code=device_code)
            except model.DoesNotExist:
                return _error("invalid_grant", "Unknown, expired or already redeemed device code.")
            now = time.monotonic()
            _device_polls[device.user_code].append(now)
            previous = _last_poll.get(device_code)
            _last_poll[device_code] = now
            # A small tolerance: the client's clock and ours tick alike, but the request takes time.
            if previous is not None and now - previous < device.interval - 0.05:
                device.interval += SLOW_DOWN_STEP
                device.save(update_fields=["interval"])
                return _error("slow_down", f"Polling too fast; wait {device.interval} s between polls.")
            if device.is_expired():
                return _error("expired_token", "The device code has expired.")
            response = super().device_flow_token_response(request, device_code, *args, **kwargs)
            if response.status_code == 200:
                device.delete()  # RFC 8628: a device code is redeemed once
                _last_poll.pop(device_code, None)
            return response


# A test may slow down refresh answers *after* the provider has rotated, to hold a refresh in the
# window where the client's token is dead and the new one not stored yet.
_answer = threading.local()
_refresh_answer_delay = 0.0
_refreshes_answered = 0


def take_answer_delay():
    """Seconds to hold back the answer of the request this thread just handled (once)."""
    delay = getattr(_answer, "delay", 0.0)
    _answer.delay = 0.0
    return delay


def _loopback_only(view):
    def wrapped(request, *args, **kwargs):
        if not ipaddress.ip_address(request.META.get("REMOTE_ADDR", "0.0.0.0")).is_loopback:
            return http.HttpResponseForbidden("test endpoints answer loopback callers only")
        return view(request, *args, **kwargs)

    return csrf_exempt(wrapped)


@_loopback_only
def device_decision(request, user_code, decision):
    """Headless approval: approve (as ?user=alice by default), deny or expire a pending user code."""
    model = get_device_grant_model()
    try:
        device = model.objects.get(user_code=user_code)
    except model.DoesNotExist:
        return _error("not_found", "no device grant with that user code", status=404)
    if decision == "approve":
        username = request.GET.get("user", "alice")
        device.user = get_user_model().objects.get(username=username)
        device.status = model.AUTHORIZED
    elif decision == "deny":
        device.status = model.DENIED
    elif decision == "expire":
        # Expire by the clock, so the provider's own expiry check is what answers.
        device.expires = datetime.now(tz=timezone.utc) - timedelta(seconds=1)
    else:
        return _error("invalid_request", "decision must be approve, deny or expire")
    device.save()
    return http.JsonResponse({"user_code": user_code, "status": device.status})


@_loopback_only
def stats(request):
    """Token endpoint requests per grant type and the times between device polls per user code."""
    with _lock:
        intervals = {
            code: [round(b - a, 3) for a, b in zip(times, times[1:])] for code, times in _device_polls.items()
        }
        return http.JsonResponse(
            {
                "refreshes_answered": _refreshes_answered,
                "token_requests": dict(_token_requests),
                "device_polls": {code: len(times) for code, times in _device_polls.items()},
                "device_poll_intervals": intervals,
            }
        )


@_loopback_only
def token_info(request):
    """What the provider holds about an access token (POST token=...): scope, resource, user."""
    token = request.POST.get("token", "")
    checksum = hashlib.sha256(token.encode()).hexdigest()
    found = get_access_token_model().objects.filter(token_checksum=checksum).first()
    if found is None:
        return http.JsonResponse({"active": False})
    return http.JsonResponse(
        {
            "active": found.is_valid(),
            "scope": found.scope,
            "resource": found.resource or [],
            "username": found.user.username if found.user else None,
            "client_id": found.application.client_id if found.application else None,
        }
    )


@csrf_exempt
@_loopback_only
def refresh_answer_delay(request):
    """POST ms=N: hold back every successful refresh answer N ms after the rotation (0: off)."""
    global _refresh_answer_delay
    try:
        milliseconds = int(request.POST.get("ms", ""))
    except ValueError:
        return _error("invalid_request", "ms must be a whole number")
    with _lock:
        _refresh_answer_delay = max(0, milliseconds) / 1000
    return http.JsonResponse({"ms": milliseconds})
