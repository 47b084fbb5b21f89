"""``{% admin_site_text "site_title" %}``: the admin site's name on a page drawn without the
admin's context (django-axes draws the lockout page with its own)."""

from typing import Literal

from django import template
from django.contrib import admin

register = template.Library()


@register.simple_tag
def admin_site_text(name: Literal["site_title", "site_header"]) -> str:
    return str(admin.site.site_title if name == "site_title" else admin.site.site_header)
