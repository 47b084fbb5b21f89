"""
WSGI config for clinic project.

It exposes the WSGI callable as a module-level variable named ``application``.

For more information on this file, see
https://docs.djangoproject.com/en/6.1/howto/deployment/wsgi/
"""

import os
import sys

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

from clinic.middleware import ChunkedBodyMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")

try:
    # A body sent chunked is read (Django reads none without a Content-Length).
    application = ChunkedBodyMiddleware(get_wsgi_application())
except ImproperlyConfigured as error:
    # One line naming the variable instead of a traceback from every worker. Exit status 4 is
    # gunicorn's "App failed to load": it stops rather than boot the workers again.
    print(f"Configuration error: {error}", file=sys.stderr, flush=True)
    raise SystemExit(4) from None
