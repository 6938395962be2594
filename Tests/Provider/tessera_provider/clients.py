"""The seeded users and clients; serve.py prints them, the Swift TestProvider mirrors them."""
DEVICE = "urn:ietf:params:oauth:grant-type:device_code"

USERS = {"alice": "alice-password", "bob": "bob-password"}

CLIENTS = [
    {"client_id": "tessera-device-public", "client_secret": None, "grant": DEVICE},
    {"client_id": "tessera-device-confidential", "client_secret": "device-confidential-secret", "grant": DEVICE},
    {"client_id": "tessera-password", "client_secret": "password-client-secret", "grant": "password"},
    {"client_id": "tessera-password-public", "client_secret": None, "grant": "password"},
    # RFC 8252 §7.3: registered without a port; DOT lets loopback IP redirects use any port.
    {"client_id": "tessera-browser-public", "client_secret": None, "grant": "authorization-code",
     "redirect_uris": "http://127.0.0.1/callback"},
]
