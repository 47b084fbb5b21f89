from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from clinic import bench, views
from referrals.staff_session import KEEP_ALIVE_URL_NAME, staff_keep_alive
from referrals.twofactor import two_factor_recovery_codes, two_factor_setup

# A database outage is answered 503 with Retry-After (JSON under /api/), other errors 500;
# under /api/ every error, 400 and 404 included, is in the API's one shape.
handler500 = views.server_error
handler404 = views.not_found
handler400 = views.bad_request

urlpatterns = [
    path("", include("intake.urls")),
    path("healthz", views.healthz, name="healthz"),
    path("livez", views.livez, name="livez"),
    # Pages without an icon link (the admin) make browsers ask for /favicon.ico.
    path("favicon.ico", views.favicon),
    path("admin/two-factor/", two_factor_setup, name="staff-two-factor"),
    path(
        "admin/two-factor/recovery-codes/",
        two_factor_recovery_codes,
        name="staff-recovery-codes",
    ),
    # The staff pages' script keeps a session open while someone types (a POST, never a redirect).
    path("admin/keep-alive/", staff_keep_alive, name=KEEP_ALIVE_URL_NAME),
    path("admin/", admin.site.urls),
    path("api/v1/", include("clinic.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "api/docs/",
        # Our template gives the inline start-up script the CSP nonce.
        SpectacularSwaggerView.as_view(url_name="schema", template_name="api/swagger_ui.html"),
        name="api-docs",
    ),
    # Anything else under /api/ (another version, say): JSON with DEBUG on too (its docstring).
    re_path(r"^api/", views.api_not_found, name=views.API_NOT_FOUND),
]

if settings.BENCH_BASELINE:
    # bench/load.py's yardstick (clinic/bench.py); never routed unless BENCH_BASELINE=1.
    urlpatterns.insert(0, path("bench/baseline", bench.baseline))
