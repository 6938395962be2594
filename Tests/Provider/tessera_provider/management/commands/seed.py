"""Seeds the test users and clients. Their names and secrets are fixed and public on purpose:
this provider exists only for tests and the demo (see ../../clients.py)."""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from oauth2_provider.models import get_application_model

from tessera_provider.clients import CLIENTS, USERS


class Command(BaseCommand):
    help = "Create the test users and OAuth clients (idempotent)."

    def handle(self, *args, **options):
        User = get_user_model()
        for username, password in USERS.items():
            user, _ = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.org"})
            user.set_password(password)
            user.save()
        Application = get_application_model()
        for client in CLIENTS:
            Application.objects.filter(client_id=client["client_id"]).delete()
            Application.objects.create(
                name=client["client_id"],
                client_id=client["client_id"],
                client_secret=client["client_secret"] or "",
                client_type="confidential" if client["client_secret"] else "public",
                authorization_grant_type=client["grant"],
                redirect_uris=client.get("redirect_uris", ""),
                algorithm="RS256",
                hash_client_secret=True,
            )
        self.stdout.write(f"seeded {len(USERS)} users and {len(CLIENTS)} clients")
