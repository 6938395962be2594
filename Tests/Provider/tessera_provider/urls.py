from django.conf import settings
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from oauth2_provider import urls as dot_urls

from . import views

if settings.IAM_MODE:
    from . import iam

    iam.install()
    token_view, device_view = iam.TokenView, iam.DeviceAuthorizationView
else:
    token_view, device_view = views.TokenView, views.DeviceAuthorizationView

# Our patched views shadow the stock ones because Django takes the first matching pattern.
oauth_patterns = [
    path("token/", token_view.as_view(), name="token"),
    path("device-authorization/", device_view.as_view(), name="device-authorization"),
] + dot_urls.base_urlpatterns + dot_urls.oidc_urlpatterns + dot_urls.dcr_urlpatterns

urlpatterns = [
    re_path(r"^\.well-known/openid-configuration/?$", views.DiscoveryView.as_view()),
    path(".well-known/oauth-authorization-server", views.ServerMetadataView.as_view()),
    path("o/", include((oauth_patterns, "oauth2_provider"))),
    path("accounts/login/", auth_views.LoginView.as_view(template_name="login.html"), name="login"),
    path("test/device/<str:user_code>/<str:decision>", views.device_decision),
    path("test/stats", views.stats),
    path("test/token-info", views.token_info),
    path("test/refresh-answer-delay", views.refresh_answer_delay),
]
if settings.IAM_MODE:
    urlpatterns += [
        path("iam/api/client-registration", iam.RegistrationView.as_view()),
        path("iam/api/client-registration/<str:client_id>", iam.RegistrationManagementView.as_view()),
    ]
