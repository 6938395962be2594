from django.apps import AppConfig
from django.db.models.signals import pre_save


def _sign_with_rs256(sender, instance, **kwargs):
    # Stock 3.4.1 registers RFC 7591 clients without a signing algorithm, and then answers a
    # refresh with scope openid by a 500 ("This application does not support signed tokens").
    if not instance.algorithm:
        instance.algorithm = "RS256"


class TesseraProviderConfig(AppConfig):
    name = "tessera_provider"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from oauth2_provider.models import get_application_model

        pre_save.connect(_sign_with_rs256, sender=get_application_model())
