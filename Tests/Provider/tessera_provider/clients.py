"""The seeded users and clients; serve.py prints them, the Swift TestProvider mirrors them."""
DEVICE = "urn:ietf:params:oauth:grant-type:device_code"

USERS = {"alice": "alice-password", "bob": "bob-password"}

CLIENTS = [
    {"client_id": "tessera-device-public", "client_secret": None, "grant": DEVICE},
    {"client_id": "tessera-device-confidential", "client_secret": "device-confidential-secret", "grant": DEVICE},
    {"client_id": "tessera-password", "client_secret": "password-client-secret", "grant": "password"},
    {"client_id": "tessera-password-public", "client_secret": None, "grant": "password"},
]
