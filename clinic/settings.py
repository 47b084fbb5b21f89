"""Settings for the clinic intake and referral service.

Everything that differs between machines comes from environment variables,
each documented in `.env.example`. Bad values raise ImproperlyConfigured at
start-up. `DJANGO_ENV=production` switches on the safe defaults for patient
data and refuses to start without a secret key or with DEBUG on.
"""

import os
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from clinic.env import (
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_parsed,
    env_str,
    parse_phone_number,
    parse_rate,
)
from referrals.calendar import (
    WorkingCalendar,
    parse_holidays,
    parse_hours,
    parse_time_zone,
    parse_working_days,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DJANGO_ENV = env_choice("DJANGO_ENV", "development", ("development", "production"))
PRODUCTION = DJANGO_ENV == "production"
# pytest-django reads these settings before any conftest runs, so "under pytest"
# is detected from the loaded modules; TESTING=0/1 overrides the guess.
TESTING = env_bool("TESTING", "pytest" in sys.modules)

DEBUG = env_bool("DEBUG", not PRODUCTION)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured(
        "DEBUG must be off when DJANGO_ENV=production: it shows patient data in error pages."
    )

SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DJANGO_ENV=production: set it to a long random string."
        )
    # A fixed key keeps development sessions across restarts; it never leaves development.
    SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"  # noqa: S105
elif PRODUCTION and (
    len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure-")
):
    # Django's deploy check only warns (security.W009), and the server starts anyway: the key
    # signs sessions, the password-reset and two-factor links and the messages to patients.
    raise ImproperlyConfigured(
        "SECRET_KEY is too weak for DJANGO_ENV=production: use at least 50 random characters, "
        'e.g. python -c "import secrets; print(secrets.token_urlsafe(50))".'
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS is required when DJANGO_ENV=production: list the public host names."
    )
if PRODUCTION and "*" in ALLOWED_HOSTS:
    # The links emailed to patients (a saved form's) and to staff (two-factor set-up) are built
    # from the request's host: with "*" anyone can make the clinic mail a link to their site.
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS='*' is refused when DJANGO_ENV=production: list the public host names "
        "(/healthz answers a probe by any host)."
    )
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
CSRF_FAILURE_VIEW = "clinic.views.csrf_failure"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_tasks_db",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    # Recovery codes, and the one-time codes of `manage.py addstatictoken` (its tables come
    # from django-otp's own migrations).
    "django_otp.plugins.otp_static",
    "intake",
    "referrals",
]

MIDDLEWARE = [
    # Outermost: a HEAD answer carries no body, whichever middleware or view made it.
    "clinic.middleware.HeadWithoutBodyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before any middleware checks the host: probes ask by the server's address.
    "clinic.middleware.HealthCheckMiddleware",
    # Early: the API's errors (413, 503) are not cached either.
    "clinic.middleware.ApiNeverCacheMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Before sessions and CSRF read the body: an oversized request gets a 413 page.
    "clinic.middleware.RequestSizeLimitMiddleware",
    "clinic.middleware.NulQueryMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "clinic.middleware.IdleSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "referrals.twofactor.StaffTwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]
# Bench only (bench/load.py; clinic/bench.py): an X-Query-Count header on every response, and
# the POST /bench/baseline yardstick. Both off unless asked for.
BENCH_QUERY_COUNT = env_bool("BENCH_QUERY_COUNT", False)
BENCH_BASELINE = env_bool("BENCH_BASELINE", False)
if BENCH_QUERY_COUNT:
    MIDDLEWARE.insert(0, "clinic.bench.QueryCountMiddleware")

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # ModelBackend, reading a signed-in user with its permissions and groups in one query.
    "clinic.auth_backends.StaffModelBackend",
]

ROOT_URLCONF = "clinic.urls"
WSGI_APPLICATION = "clinic.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "clinic.context_processors.clinic",
            ],
        },
    },
]

# Database: DATABASE_URL, or a local SQLite file. SQLite runs in WAL mode with
# a busy timeout because the web server, the task worker and the scheduler
# write to it from three processes; IMMEDIATE transactions take the write lock
# up front instead of failing with "database is locked" half-way through.
SQLITE_OPTIONS = {
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}
DATABASE_URL = env_str("DATABASE_URL", "")
if not DATABASE_URL:
    if PRODUCTION:
        # A unit file or container that forgot it ran on a new, empty SQLite file beside the
        # code: a worker polling a queue nobody writes to, a web process without the cases.
        raise ImproperlyConfigured(
            "DATABASE_URL is required when DJANGO_ENV=production: postgres://USER:PASSWORD@HOST"
            ":5432/NAME (or sqlite:////absolute/path/db.sqlite3 for one small clinic)."
        )
    DATABASE_URL = f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"
try:
    _database = dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
except ValueError as error:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {error}") from None
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # Django's backend, with writers waiting for the lock in short steps (clinic/sqlite/base.py).
    _database["ENGINE"] = "clinic.sqlite"
    _database["CONN_MAX_AGE"] = 0
    _database["OPTIONS"] = {**SQLITE_OPTIONS, **_database.get("OPTIONS", {})}
    if _database["NAME"] and _database["NAME"] != ":memory:":
        Path(_database["NAME"]).parent.mkdir(parents=True, exist_ok=True)
elif _database["ENGINE"] == "django.db.backends.postgresql":
    # Fail fast (and let /healthz answer 503) when the server does not answer.
    _database["OPTIONS"] = {"connect_timeout": 5, **_database.get("OPTIONS", {})}
    # A transaction its client left open and idle (a web host lost mid-request, whose
    # connection the server keeps until TCP keepalive gives up, hours) ends after this many
    # seconds, and with it the locks it held (a patient's, which every write for that patient
    # waits for). Ours are never idle that long; 0 leaves it to the server's setting (a
    # connection pooler that refuses the startup parameter ``options``). docs/SCALING.md.
    # One the database URL sets itself (its ``options``) is left as it is. Without the URL's,
    # libpq sends the environment's PGOPTIONS, but only when the connection gives no options
    # of its own: the timeout joins those, or it dropped every setting an operator made there.
    _idle = env_int("DATABASE_IDLE_TRANSACTION_TIMEOUT", 300, minimum=0)
    _given = _database["OPTIONS"].get("options") or os.environ.get("PGOPTIONS", "")
    if _idle and "idle_in_transaction_session_timeout" not in _given:
        _database["OPTIONS"]["options"] = " ".join(
            filter(None, [_given, f"-c idle_in_transaction_session_timeout={_idle}s"])
        )
    if env_bool("DATABASE_PREPARED_STATEMENTS", True):
        # Only the statements run inside clinic.prepared.preparing() are prepared (the
        # default client-side cursors never are); each on its first run on a connection.
        _database["OPTIONS"].setdefault("prepare_threshold", 0)
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    # PBKDF2 is slow by design; tests create many users.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env_str("TIME_ZONE", "Europe/London")
USE_I18N = True
USE_TZ = True

# Static files: the project's own `static/` (Bootstrap is vendored there), served
# by WhiteNoise. Hashed, compressed names in production; plain names elsewhere,
# because the live test server serves source names only.
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "clinic.storage.StaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Outside production WhiteNoise serves straight from the finders, so no
# collectstatic is needed for `make run` or the tests.
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = not PRODUCTION

# Mail (Django 6.1 MAILERS). Console in development, SMTP in production.
MAIL_BACKEND = env_choice(
    "MAIL_BACKEND", "smtp" if PRODUCTION else "console", ("console", "smtp", "locmem")
)
if MAIL_BACKEND == "smtp":
    # Implicit TLS (SMTPS, port 465) or STARTTLS (port 587): a relay speaks one on a port.
    _smtp_ssl = env_bool("SMTP_USE_SSL", False)
    _smtp_tls = env_bool("SMTP_USE_TLS", not _smtp_ssl)
    if _smtp_ssl and _smtp_tls:
        # Django refuses the pair only when the first mail is sent: an emergency alert lost.
        raise ImproperlyConfigured(
            "SMTP_USE_TLS and SMTP_USE_SSL are both true: set SMTP_USE_SSL=true and "
            "SMTP_USE_TLS=false for implicit TLS (port 465), or SMTP_USE_SSL=false for "
            "STARTTLS (port 587)."
        )
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": env_str("SMTP_HOST", "localhost"),
                "port": env_int("SMTP_PORT", 465 if _smtp_ssl else 587, minimum=1, maximum=65535),
                "username": env_str("SMTP_USERNAME", ""),
                "password": env_str("SMTP_PASSWORD", ""),
                "use_tls": _smtp_tls,
                "use_ssl": _smtp_ssl,
                "timeout": 10,
            },
        }
    }
else:
    MAILERS = {"default": {"BACKEND": f"django.core.mail.backends.{MAIL_BACKEND}.EmailBackend"}}
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "clinic@localhost")
if PRODUCTION and MAIL_BACKEND == "smtp":
    # Emergency alerts to staff, patients' links and two-factor set-up go by mail: a server
    # left at localhost, or a sender at "localhost" that relays refuse, fails only when it sends.
    for _name in ("SMTP_HOST", "DEFAULT_FROM_EMAIL"):
        if not env_str(_name, ""):
            raise ImproperlyConfigured(
                f"{_name} is required when DJANGO_ENV=production with the SMTP mailer "
                "(emergency alerts go to staff by mail)."
            )
SERVER_EMAIL = env_str("SERVER_EMAIL", DEFAULT_FROM_EMAIL)

# Background tasks: a database queue run by `manage.py run_worker` (django-tasks-db's
# db_worker, waiting for the database through an outage). Tests run
# tasks on enqueue unless a test asks for the database backend.
TASKS_BACKEND = env_choice(
    "TASKS_BACKEND", "immediate" if TESTING else "database", ("database", "immediate", "dummy")
)
TASKS = {
    "default": {
        "BACKEND": {
            "database": "django_tasks_db.DatabaseBackend",
            "immediate": "django.tasks.backends.immediate.ImmediateBackend",
            "dummy": "django.tasks.backends.dummy.DummyBackend",
        }[TASKS_BACKEND]
    }
}
# Dotted paths of tasks that `manage.py run_scheduler` enqueues once a minute.
PERIODIC_TASKS = [
    "clinic.tasks.prune_task_results",
    "clinic.tasks.purge_rate_counters",
    "clinic.tasks.purge_expired_sessions",
    "referrals.tasks.escalate_overdue",
    "intake.tasks.purge_expired_drafts",
    "referrals.tasks.purge_idempotency_records",
    "referrals.tasks.purge_webhook_deliveries",
    "referrals.tasks.purge_link_days",
    "referrals.tasks.requeue_stale_webhooks",
    "referrals.tasks.announce_missed",
    "clinic.tasks.requeue_lost_tasks",
]
TASK_RESULT_RETENTION_DAYS = env_int("TASK_RESULT_RETENTION_DAYS", 14, minimum=1)
# Tasks that may run twice with no harm (idempotent). django-tasks-db never runs again a task
# whose worker died while it ran (killed, or the database away): one of these left "running"
# longer than TASK_STALE_SECONDS is enqueued again (clinic.tasks.requeue_lost_tasks). A task
# that sends mail, writes an event or sends a webhook telling a change must not be listed: it
# would be done twice. The stamp's webhooks tell a state (red_flag_elsewhere as it then is).
RERUNNABLE_TASKS = ("referrals.tasks.stamp_red_flag_elsewhere",)
TASK_STALE_SECONDS = env_int("TASK_STALE_SECONDS", 600, minimum=60)
if TASK_STALE_SECONDS >= TASK_RESULT_RETENTION_DAYS * 86_400:
    # prune_task_results deletes a row left running after as long: it would never be swept.
    raise ImproperlyConfigured(
        "TASK_STALE_SECONDS must be shorter than TASK_RESULT_RETENTION_DAYS."
    )

# Security. Production sits behind a TLS-terminating proxy that sets
# X-Forwarded-Proto; the proxy must overwrite any such header from the client.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None
SECURE_SSL_REDIRECT = PRODUCTION
# Load balancers probe the health check over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^livez$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if PRODUCTION else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Django's database sessions, the read prepared on PostgreSQL (clinic/sessions.py).
SESSION_ENGINE = "clinic.sessions"
SESSION_COOKIE_SECURE = PRODUCTION
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Staff sessions end after SESSION_IDLE_MINUTES without a request, and with the browser.
SESSION_COOKIE_AGE = 60 * env_int("SESSION_IDLE_MINUTES", 30, minimum=1, maximum=24 * 60)
# Activity extends the session (clinic.middleware.IdleSessionMiddleware), writing the session
# row at most once a minute rather than on every request.
SESSION_REFRESH_SECONDS = 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# Staff login protection (django-axes keeps the attempts in the database, shared by every
# process): LOGIN_FAILURE_LIMIT failures lock the account, and separately the address, for
# LOGIN_LOCKOUT_MINUTES.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1, maximum=100)
AXES_COOLOFF_TIME = timedelta(
    minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1, maximum=24 * 60)
)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# A sign-in clears that username's own failures only (referrals.apps: forget_own_failures).
# axes' reset cleared every failure from the address too, so any account's sign-in from the
# guesser's address reset the count against another (a review found it).
AXES_RESET_ON_SUCCESS = False
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
AXES_VERBOSE = False
# One reading of the client address for every per-address limit (TRUSTED_PROXY_HOPS).
AXES_CLIENT_IP_CALLABLE = "clinic.middleware.client_ip"

# Two-factor (TOTP, django-otp): optional for staff who set it up; STAFF_2FA_REQUIRED names
# who must use it: "lead" (the triage lead; the production default), "all" staff, or "none".
STAFF_2FA_REQUIRED = env_choice(
    "STAFF_2FA_REQUIRED", "lead" if PRODUCTION else "none", ("none", "lead", "all")
)
CSRF_COOKIE_SECURE = PRODUCTION
# Pages put the token in the HTML (the Swagger UI too), so no script needs the cookie.
CSRF_COOKIE_HTTPONLY = True
# Requests with a larger body are refused with 413 (clinic.middleware); Django's own cap on
# bodies without a Content-Length follows it.
MAX_REQUEST_BYTES = env_int("MAX_REQUEST_BYTES", 256 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BYTES
# Reverse proxies in front of the app that append to X-Forwarded-For; the client address for
# rate limits is read that many entries from the right (clinic.middleware.client_address).
# Production sits behind its TLS proxy (SECURE_PROXY_SSL_HEADER above trusts it already): one
# hop unless told otherwise, since at 0 every request comes from the proxy's address, all
# patients share one form limit and five wrong passwords lock out all staff. `check --deploy`
# warns of 0 in production (clinic.checks).
TRUSTED_PROXY_HOPS = env_int("TRUSTED_PROXY_HOPS", 1 if PRODUCTION else 0, minimum=0, maximum=5)
# Per client address: new drafts plus submissions of the patient form (intake.ratelimit).
FORM_RATE_LIMIT, FORM_RATE_WINDOW_SECONDS = env_parsed("FORM_RATE_LIMIT", "20/hour", parse_rate)

# Content-Security-Policy (Django 6 built-in). Inline scripts need the request
# nonce: `<script nonce="{{ csp_nonce }}">`. Bootstrap draws form controls
# with data: SVG images.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    # Accept's weights read (q=0: not acceptable), which DRF's own ignores; docs/API.md.
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "referrals.negotiation.QualityNegotiation",
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # drf-spectacular's, each operation saying the scopes it needs.
    "DEFAULT_SCHEMA_CLASS": "referrals.api_auth.ScopedAutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Clinic intake and referral API",
    "DESCRIPTION": "Patient intake, triage and referral routing for foot and back pain clinics.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Deep links put a link inside each operation's toggle button (nested controls, WCAG 4.1.2).
    "SWAGGER_UI_SETTINGS": {"deepLinking": False, "persistAuthorization": True},
    # The default hook (named enums), then ours: request bodies refuse unknown fields, the
    # statuses any operation may answer (406, 503), and the response headers docs/API.md names.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "referrals.api_auth.strict_request_bodies",
        "referrals.api_auth.any_operation_errors",
        "referrals.api_auth.documented_headers",
    ],
    # clinic/api_urls.py: a UUID in either case.
    "PATH_CONVERTER_OVERRIDES": {"public_id": {"type": "string", "format": "uuid"}},
    "ENUM_NAME_OVERRIDES": {
        "QueueEnum": "referrals.models.Queue",
        "UrgencyEnum": "intake.models.Urgency",
        "ReferralStatusEnum": "referrals.models.Status",
        "ContactMethodEnum": "intake.models.ContactMethod",
    },
}

# The integration API (issue 6; docs/API.md). Requests per token per window (429 with
# Retry-After beyond it), the largest request body (413 beyond it), and webhook retries.
API_RATE_LIMIT = env_int("API_RATE_LIMIT", 120, minimum=1)
API_RATE_WINDOW_SECONDS = env_int("API_RATE_WINDOW_SECONDS", 60, minimum=1, maximum=86_400)
API_MAX_REQUEST_BYTES = env_int("API_MAX_REQUEST_BYTES", 65_536, minimum=1024)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8, minimum=1, maximum=50)
WEBHOOK_RETRY_BASE_SECONDS = env_int("WEBHOOK_RETRY_BASE_SECONDS", 30, minimum=0)
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1, maximum=60)
# A pending delivery this long past its attempt time was lost (its worker died mid-delivery):
# the sweeper enqueues it again. Longer than the receiver's timeout, or live sends are doubled.
WEBHOOK_STALE_SECONDS = env_int("WEBHOOK_STALE_SECONDS", 300, minimum=1)
# A case's announcement (webhooks, staff alerts) not done this long after it was stored is
# enqueued again (referrals.tasks.announce_missed): the worker died or the task failed.
ANNOUNCE_STALE_SECONDS = env_int("ANNOUNCE_STALE_SECONDS", 600, minimum=60)
if WEBHOOK_STALE_SECONDS <= WEBHOOK_TIMEOUT_SECONDS:
    raise ImproperlyConfigured("WEBHOOK_STALE_SECONDS must be longer than WEBHOOK_TIMEOUT_SECONDS.")
# Delivered and failed webhook rows, and idempotency keys, are kept this long.
WEBHOOK_RETENTION_DAYS = env_int("WEBHOOK_RETENTION_DAYS", 30, minimum=1)
IDEMPOTENCY_RETENTION_HOURS = env_int("IDEMPOTENCY_RETENTION_HOURS", 24, minimum=1)

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

LOG_LEVEL = env_choice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper()
# The started/succeeded lines of the periodic tasks, two a task, eleven tasks a minute.
LOG_ROUTINE_TASKS = env_bool("LOG_ROUTINE_TASKS", False)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "{asctime} {levelname} {name} {message}", "style": "{"},
    },
    # Resume tokens in request paths are masked before any handler sees them.
    "filters": {
        "mask_secrets": {"()": "clinic.logfilters.MaskSecretsFilter"},
        "routine_tasks": {"()": "clinic.logfilters.RoutineTasksFilter"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "plain",
            "filters": ["mask_secrets"],
        },
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    # Replaces Django's default "django" logger (console when DEBUG, mail to
    # admins), which would print every message a second time.
    "loggers": {
        "django": {
            "handlers": ["stdout"],
            "level": LOG_LEVEL,
            "propagate": False,
            "filters": ["mask_secrets"],
        },
        "django.request": {"level": LOG_LEVEL, "filters": ["mask_secrets"]},
        # The periodic housekeeping tasks' started/succeeded lines (their failures are kept).
        "django.tasks": {"level": LOG_LEVEL, "filters": ["mask_secrets", "routine_tasks"]},
        # SQL parameters are patient data: never logged, even at LOG_LEVEL=debug.
        "django.db.backends": {"level": "INFO"},
    },
}

# The clinic this instance serves.
CLINIC_NAME = env_str("CLINIC_NAME", "Foot and Back Clinic")
OTP_TOTP_ISSUER = CLINIC_NAME
# The working calendar that turns urgency into due times (spec §4.2; referrals/calendar.py):
# CLINIC_WORKING_DAYS "mon-fri" or ISO numbers, CLINIC_OPENING_HOURS "08:00-18:00",
# CLINIC_HOLIDAYS comma-separated ISO dates.
_opens, _closes = env_parsed("CLINIC_OPENING_HOURS", "08:00-18:00", parse_hours)
CLINIC_CALENDAR = WorkingCalendar(
    tz=env_parsed("TIME_ZONE", "Europe/London", parse_time_zone),
    working_days=env_parsed("CLINIC_WORKING_DAYS", "mon-fri", parse_working_days),
    opens=_opens,
    closes=_closes,
    holidays=env_parsed("CLINIC_HOLIDAYS", "", parse_holidays),
)
# Shown to patients told to call for help now: a typo must stop start-up, not reach them.
CLINIC_EMERGENCY_NUMBER = env_parsed("CLINIC_EMERGENCY_NUMBER", "999", parse_phone_number)
CLINIC_URGENT_CARE_NUMBER = env_parsed("CLINIC_URGENT_CARE_NUMBER", "111", parse_phone_number)
# Unsubmitted intake drafts are deleted after this many days.
DRAFT_TTL_DAYS = env_int("DRAFT_TTL_DAYS", 7, minimum=1, maximum=365)
