"""Settings of Tessera's test OpenID provider (django-oauth-toolkit 3.4.1 on sqlite).

Everything a test may want to vary comes from the environment, read once at start-up:

  TESSERA_PROVIDER_ISSUER        issuer URL (serve.py sets it from the port it bound)
  TESSERA_PROVIDER_DB            sqlite file of this instance
  ACCESS_TOKEN_EXPIRE_SECONDS    access token lifetime            (default 3600)
  REFRESH_TOKEN_EXPIRE_SECONDS   refresh token lifetime           (default 86400)
  ROTATE_REFRESH_TOKEN           "1" rotates on every refresh     (default 1)
  REFRESH_TOKEN_REUSE_PROTECTION "1" revokes the family on replay (default 1)
  DEVICE_FLOW_INTERVAL           polling interval in seconds      (default 5)
  DEVICE_CODE_EXPIRE_SECONDS     device/user code lifetime        (default 1800)
  DCR_ENABLED                    "1" offers RFC 7591 registration (default 1)
  TESSERA_PROVIDER_IAM           "1" behaves like INDIGO IAM (see iam.py)   (default 0)
"""
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def _int(name, default):
    return int(os.environ.get(name, default))


def _flag(name, default):
    return os.environ.get(name, "1" if default else "0") in ("1", "true", "yes")


def _signing_key():
    # A fresh key per process: tokens never outlive the provider instance that signed them.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


ISSUER = os.environ.get("TESSERA_PROVIDER_ISSUER", "http://127.0.0.1:8000").rstrip("/")

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "tessera-test-provider-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
ROOT_URLCONF = "tessera_provider.urls"
USE_TZ = True
LOGIN_URL = "/accounts/login/"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "oauth2_provider",
    "tessera_provider",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("TESSERA_PROVIDER_DB", str(BASE_DIR / "provider.sqlite3")),
        "OPTIONS": {"timeout": 20},
    }
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast; test users only
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("TESSERA_PROVIDER_LOG_LEVEL", "WARNING")},
}

DEVICE_CODE_EXPIRE_SECONDS = _int("DEVICE_CODE_EXPIRE_SECONDS", 1800)
IAM_MODE = _flag("TESSERA_PROVIDER_IAM", False)

OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": _signing_key(),
    "OIDC_ISS_ENDPOINT": ISSUER,
    "SCOPES": {
        "openid": "OpenID Connect",
        "profile": "Profile",
        "email": "Email",
        "offline_access": "Offline access",
        "read": "Read (test scope)",
        "write": "Write (test scope)",
    },
    "DEFAULT_SCOPES": ["openid", "profile", "offline_access", "read"],
    "ACCESS_TOKEN_EXPIRE_SECONDS": _int("ACCESS_TOKEN_EXPIRE_SECONDS", 3600),
    "REFRESH_TOKEN_EXPIRE_SECONDS": _int("REFRESH_TOKEN_EXPIRE_SECONDS", 86400),
    "ROTATE_REFRESH_TOKEN": _flag("ROTATE_REFRESH_TOKEN", True),
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    "REFRESH_TOKEN_REUSE_PROTECTION": _flag("REFRESH_TOKEN_REUSE_PROTECTION", True),
    "DEVICE_FLOW_INTERVAL": _int("DEVICE_FLOW_INTERVAL", 5),
    "OAUTH_DEVICE_VERIFICATION_URI": ISSUER + "/o/device/",
    "OAUTH_DEVICE_VERIFICATION_URI_COMPLETE": ISSUER + "/o/device/?user_code={user_code}",
    "DCR_ENABLED": _flag("DCR_ENABLED", True),
    "DCR_REGISTRATION_PERMISSION_CLASSES": ("oauth2_provider.dcr.AllowAllDCRPermission",),
    "PKCE_REQUIRED": False,
}
if IAM_MODE:
    # IAM's access tokens are JWTs whose aud claim holds the requested audience (iam.py);
    # refresh tokens stay opaque.
    OAUTH2_PROVIDER["ACCESS_TOKEN_GENERATOR"] = "tessera_provider.iam.access_token"
    OAUTH2_PROVIDER["REFRESH_TOKEN_GENERATOR"] = "oauthlib.oauth2.rfc6749.tokens.random_token_generator"
