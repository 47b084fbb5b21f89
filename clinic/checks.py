"""Deployment checks of this project's own settings (``manage.py check --deploy``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register

PROXY_HOPS_ZERO = Warning(
    "TRUSTED_PROXY_HOPS is 0 in production, behind the TLS proxy: every request comes from the "
    "proxy's address, so all patients share one form limit (FORM_RATE_LIMIT) and five wrong "
    "staff passwords lock every member of staff out.",
    hint="Set TRUSTED_PROXY_HOPS to the number of proxies that append to X-Forwarded-For "
    "(1 for one TLS proxy), or leave it unset for 1.",
    id="clinic.W001",
)


@register(Tags.security, deploy=True)
def check_proxy_hops(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if settings.SECURE_PROXY_SSL_HEADER and settings.TRUSTED_PROXY_HOPS == 0:
        return [PROXY_HOPS_ZERO]
    return []
