"""Production responses carry the security headers (issue 8), checked in a production process."""

import json

import pytest

from tests.helpers import PRODUCTION_ENV, run_python

PROBE = """
import json, django
django.setup()
from django.test import Client
from django.core.management import call_command
call_command("migrate", verbosity=0)
call_command("collectstatic", "--noinput", verbosity=0)
client = Client(HTTP_X_FORWARDED_PROTO="https", HTTP_HOST="clinic.example.org")
response = client.get("/admin/login/")
headers = {k.lower(): v for k, v in response.headers.items()}
cookies = {name: dict(morsel) for name, morsel in response.cookies.items()}
plain = Client(HTTP_HOST="clinic.example.org").get("/admin/login/")
print(json.dumps({
    "status": response.status_code, "headers": headers, "cookies": cookies,
    "http_status": plain.status_code, "http_location": plain.headers.get("Location"),
}))
"""


@pytest.fixture(scope="module")
def seen(tmp_path_factory):
    """One production process answers two requests: over the TLS proxy, and plain HTTP."""
    tmp = tmp_path_factory.mktemp("production")
    env = {
        **PRODUCTION_ENV,
        "DATABASE_URL": f"sqlite:///{tmp / 'prod.sqlite3'}",
        "STATIC_ROOT": str(tmp / "static"),
    }
    result = run_python(PROBE, env, timeout=180)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_pages_send_the_security_headers(seen):
    headers = seen["headers"]
    assert seen["status"] == 200
    assert "max-age=" in headers["strict-transport-security"]
    assert "includesubdomains" in headers["strict-transport-security"].lower()
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] in {
        "same-origin",
        "strict-origin-when-cross-origin",
        "no-referrer",
    }
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert "'nonce-" in csp


def test_production_cookies_are_secure_and_http_only(seen):
    cookie = seen["cookies"]["csrftoken"]
    assert cookie["secure"] is True
    assert cookie["httponly"] is True


def test_plain_http_is_redirected_to_https(seen):
    assert seen["http_status"] == 301
    assert seen["http_location"].startswith("https://clinic.example.org/")
