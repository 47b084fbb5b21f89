"""Settings come from the environment; bad values stop start-up with a clear message."""

import json
import re
import subprocess
from pathlib import Path

import pytest

from clinic import env
from tests.helpers import PRODUCTION_ENV, ROOT, child_env, run_manage, run_python

LOAD = "import clinic.settings"


def settings_error(environ: dict[str, str]) -> str:
    """Load the settings in a child process and return the ImproperlyConfigured message."""
    result = run_python(LOAD, environ)
    assert result.returncode != 0, "settings loaded, but should have been refused"
    assert "ImproperlyConfigured" in result.stderr, result.stderr
    return result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not a boolean"),
        ({"DRAFT_TTL_DAYS": "seven"}, "DRAFT_TTL_DAYS='seven' is not a whole number"),
        ({"DRAFT_TTL_DAYS": "0"}, "DRAFT_TTL_DAYS=0 is below the minimum of 1"),
        ({"DJANGO_ENV": "staging"}, "DJANGO_ENV='staging' is not one of: development, production"),
        ({"CLINIC_WORKING_DAYS": "mon-funday"}, "CLINIC_WORKING_DAYS: working days 'mon-funday'"),
        ({"CLINIC_OPENING_HOURS": "18:00-08:00"}, "closing must be at least one hour after"),
        ({"CLINIC_OPENING_HOURS": "8am-6pm"}, "must look like 'HH:MM-HH:MM'"),
        ({"CLINIC_HOLIDAYS": "2026-12-25,2026-13-01"}, "'2026-13-01' is not a real date"),
        ({"TIME_ZONE": "Mars/Olympus"}, "TIME_ZONE: time zone 'Mars/Olympus' is not a known"),
        ({"DATABASE_URL": "nonsense://x"}, "DATABASE_URL is not a database URL"),
        ({"MAIL_BACKEND": "pigeon"}, "MAIL_BACKEND='pigeon' is not one of"),
        ({"SMTP_PORT": "70000", "MAIL_BACKEND": "smtp"}, "SMTP_PORT=70000 is above the maximum"),
        (
            {"SMTP_USE_SSL": "maybe", "MAIL_BACKEND": "smtp"},
            "SMTP_USE_SSL='maybe' is not a boolean",
        ),
        (
            {"SMTP_USE_SSL": "true", "SMTP_USE_TLS": "true", "MAIL_BACKEND": "smtp"},
            "SMTP_USE_TLS and SMTP_USE_SSL are both true",
        ),
    ],
)
def test_a_bad_value_stops_start_up_with_a_message_naming_it(environ, message):
    assert message in settings_error(environ)


def test_manage_py_says_a_bad_value_in_one_line():
    result = run_manage("check", env={"CLINIC_OPENING_HOURS": "8am-6pm"})
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "Configuration error: CLINIC_OPENING_HOURS: opening hours '8am-6pm' must look like "
        "'HH:MM-HH:MM', e.g. '08:00-18:00'."
    ]


def test_manage_py_refuses_starttls_and_implicit_tls_together_in_one_line():
    # Django's SMTP mailer refuses the pair only when it first sends: in production, the first
    # emergency alert to staff.
    environ = {**PRODUCTION_ENV, "SMTP_USE_TLS": "true", "SMTP_USE_SSL": "true"}
    result = run_manage("check", env=environ)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "Configuration error: SMTP_USE_TLS and SMTP_USE_SSL are both true: set "
        "SMTP_USE_SSL=true and SMTP_USE_TLS=false for implicit TLS (port 465), or "
        "SMTP_USE_SSL=false for STARTTLS (port 587)."
    ]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, {"use_tls": True, "use_ssl": False, "port": 587}),
        ({"SMTP_USE_SSL": "true"}, {"use_tls": False, "use_ssl": True, "port": 465}),
        (
            {"SMTP_USE_SSL": "true", "SMTP_USE_TLS": "false", "SMTP_PORT": "2465"},
            {"use_tls": False, "use_ssl": True, "port": 2465},
        ),
        ({"SMTP_USE_TLS": "false"}, {"use_tls": False, "use_ssl": False, "port": 587}),
        (
            {"SMTP_USE_SSL": "false", "SMTP_PORT": "25"},
            {"use_tls": True, "use_ssl": False, "port": 25},
        ),
    ],
)
def test_the_smtp_mailer_uses_starttls_or_implicit_tls_as_configured(environ, expected):
    code = (
        "import json, clinic.settings as s; o = s.MAILERS['default']['OPTIONS']; "
        "print(json.dumps({k: o[k] for k in ('use_tls', 'use_ssl', 'port', 'host')}))"
    )
    result = run_python(code, {**PRODUCTION_ENV, **environ})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {**expected, "host": "smtp.example.org"}


def test_gunicorn_says_a_bad_value_in_one_line_and_stops():
    result = subprocess.run(  # noqa: S603 - the README's gunicorn command, our own app
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "clinic.wsgi", "-w", "2", "-b", "127.0.0.1:0"],
        cwd=ROOT,
        env=child_env({**PRODUCTION_ENV, "CLINIC_HOLIDAYS": "2026-12-25,2026-13-01"}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # The master reads the settings before it starts a worker (gunicorn.conf.py), and stops.
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "Booting worker" not in result.stderr
    assert result.stderr.splitlines()[1:] == [
        "Configuration error: CLINIC_HOLIDAYS: holidays '2026-12-25,2026-13-01': '2026-13-01' "
        "is not a real date."
    ]


def test_the_wsgi_module_alone_says_a_bad_value_in_one_line():
    # For a server other than gunicorn: exit status 4 is also gunicorn's "App failed to load".
    result = run_python("import clinic.wsgi", {"CLINIC_WORKING_DAYS": "mon-funday"})
    assert result.returncode == 4
    assert result.stderr.splitlines() == [
        "Configuration error: CLINIC_WORKING_DAYS: working days 'mon-funday': 'funday' is not a "
        "weekday (use mon..sun or ISO numbers 1..7, e.g. 'mon-fri' or '1,2,3,4,5')."
    ]


def test_production_refuses_to_start_without_a_secret_key():
    environ = {**PRODUCTION_ENV, "SECRET_KEY": ""}
    assert "SECRET_KEY is required when DJANGO_ENV=production" in settings_error(environ)


def test_production_refuses_to_start_with_debug_on():
    environ = {**PRODUCTION_ENV, "DEBUG": "true"}
    assert "DEBUG must be off when DJANGO_ENV=production" in settings_error(environ)


def test_production_refuses_to_start_without_allowed_hosts():
    environ = {**PRODUCTION_ENV, "ALLOWED_HOSTS": ""}
    assert "ALLOWED_HOSTS is required" in settings_error(environ)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SECRET_KEY": "short-key"}, "SECRET_KEY is too weak"),
        ({"SECRET_KEY": "django-insecure-" + "k" * 50}, "SECRET_KEY is too weak"),
        ({"SECRET_KEY": "ab" * 30}, "SECRET_KEY is too weak"),
        ({"ALLOWED_HOSTS": "*"}, "ALLOWED_HOSTS='*' is refused"),
        ({"ALLOWED_HOSTS": "clinic.example.org,*"}, "ALLOWED_HOSTS='*' is refused"),
        ({"SMTP_HOST": ""}, "SMTP_HOST is required when DJANGO_ENV=production"),
        ({"SMTP_USE_SSL": "1", "SMTP_USE_TLS": "yes"}, "SMTP_USE_TLS and SMTP_USE_SSL are both"),
        ({"DEFAULT_FROM_EMAIL": ""}, "DEFAULT_FROM_EMAIL is required"),
        ({"DATABASE_URL": ""}, "DATABASE_URL is required when DJANGO_ENV=production"),
        ({"CLINIC_EMERGENCY_NUMBER": "call 999"}, "CLINIC_EMERGENCY_NUMBER: 'call 999' is not a"),
        ({"CLINIC_URGENT_CARE_NUMBER": "11l"}, "CLINIC_URGENT_CARE_NUMBER: '11l' is not a phone"),
        ({"CLINIC_URGENT_CARE_NUMBER": "+"}, "is not a phone number"),
    ],
)
def test_production_refuses_an_unsafe_or_unusable_value(environ, message):
    assert message in settings_error({**PRODUCTION_ENV, **environ})


def test_production_without_smtp_needs_no_mail_server():
    environ = {
        **PRODUCTION_ENV,
        "MAIL_BACKEND": "locmem",
        "SMTP_HOST": "",
        "DEFAULT_FROM_EMAIL": "",
    }
    result = run_python(LOAD, environ)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("number", ["999", "111", "112", "+44 20 7946 0000", "(020) 7946-0000"])
def test_a_phone_number_is_read_as_written(number):
    assert env.parse_phone_number(f" {number} ") == number


def test_deploy_check_is_clean_in_production_behind_a_tls_proxy():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_deploy_check_complains_in_development():
    # Proves the check above has teeth: the same command fails on development settings.
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env={})
    assert result.returncode != 0


@pytest.mark.parametrize(
    ("environ", "hops"),
    [
        ({}, 0),
        (PRODUCTION_ENV, 1),
        ({**PRODUCTION_ENV, "TRUSTED_PROXY_HOPS": ""}, 1),
        ({**PRODUCTION_ENV, "TRUSTED_PROXY_HOPS": "2"}, 2),
    ],
)
def test_production_reads_the_client_behind_its_tls_proxy_by_default(environ, hops):
    """Production sits behind its TLS proxy: left at 0 (the default before, and the value
    .env.example gave), every request came from the proxy's address, so all patients shared one
    form limit and five wrong passwords locked all staff out."""
    code = "import clinic.settings as s; print(s.TRUSTED_PROXY_HOPS)"
    result = run_python(code, environ)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(hops)


def test_deploy_check_warns_of_no_proxy_hops_in_production():
    environ = {**PRODUCTION_ENV, "TRUSTED_PROXY_HOPS": "0"}
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=environ)
    assert result.returncode != 0
    assert "clinic.W001" in result.stdout + result.stderr
    assert "all patients share one form limit" in result.stdout + result.stderr


def test_collectstatic_writes_hashed_compressed_files_in_production(tmp_path: Path):
    result = run_manage(
        "collectstatic", "--noinput", env={**PRODUCTION_ENV, "STATIC_ROOT": str(tmp_path)}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((tmp_path / "staticfiles.json").read_text())
    hashed = manifest["paths"]["vendor/bootstrap/bootstrap.min.css"]
    assert hashed != "vendor/bootstrap/bootstrap.min.css"
    assert (tmp_path / hashed).is_file()
    assert (tmp_path / f"{hashed}.gz").is_file()
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in manifest["paths"]


def test_defaults_describe_a_london_clinic_open_weekdays_eight_to_six():
    code = (
        "import json, clinic.settings as s; print(json.dumps({"
        "'tz': s.TIME_ZONE, 'days': sorted(s.CLINIC_CALENDAR.working_days),"
        "'hours': [s.CLINIC_CALENDAR.opens.isoformat(), s.CLINIC_CALENDAR.closes.isoformat()],"
        "'holidays': sorted(s.CLINIC_CALENDAR.holidays), 'emergency': s.CLINIC_EMERGENCY_NUMBER,"
        "'urgent': s.CLINIC_URGENT_CARE_NUMBER, 'ttl': s.DRAFT_TTL_DAYS, 'debug': s.DEBUG,"
        "'tasks': s.TASKS['default']['BACKEND'], 'mail': s.MAILERS['default']['BACKEND'],"
        "'db': s.DATABASES['default']['NAME'].endswith('var/db.sqlite3')}))"
    )
    result = run_python(code, {"TESTING": "0"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "tz": "Europe/London",
        "days": [1, 2, 3, 4, 5],
        "hours": ["08:00:00", "18:00:00"],
        "holidays": [],
        "emergency": "999",
        "urgent": "111",
        "ttl": 7,
        "debug": True,
        "tasks": "django_tasks_db.DatabaseBackend",
        "mail": "django.core.mail.backends.console.EmailBackend",
        "db": True,
    }


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout_and_writers_waiting_in_short_steps(
    tmp_path: Path,
):
    code = (
        "import django; django.setup(); from django.db import connection\n"
        "with connection.cursor() as c:\n"
        "    c.execute('PRAGMA journal_mode'); print(c.fetchone()[0])\n"
        "    c.execute('PRAGMA busy_timeout'); print(c.fetchone()[0])\n"
        "from django.db import connections; print(type(connections['default']).__module__)\n"
    )
    result = run_python(code, {"DATABASE_URL": f"sqlite:///{tmp_path / 'wal.sqlite3'}"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["wal", "5000", "clinic.sqlite.base"]


@pytest.mark.parametrize(
    ("environ", "threshold"),
    [
        ({}, 0),
        ({"DATABASE_PREPARED_STATEMENTS": "false"}, None),
        ({"DATABASE_URL": "sqlite:///var/never-opened.sqlite3"}, None),
    ],
)
def test_prepared_statements_are_on_for_postgresql_unless_turned_off(environ, threshold):
    # Settings only: no connection is made (clinic/prepared.py, tests/test_prepared.py).
    code = (
        "import clinic.settings as s\n"
        "print(repr(s.DATABASES['default']['OPTIONS'].get('prepare_threshold')))"
    )
    postgres = {"DATABASE_URL": "postgres://clinic@db.invalid:5432/clinic"}
    result = run_python(code, {**postgres, **environ})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == repr(threshold)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("Yes", True), ("1", True), ("off", False), ("0", False), ("", True)],
)
def test_env_bool_reads_the_usual_spellings(raw, expected):
    assert env.env_bool("FLAG", True, environ={"FLAG": raw}) is expected


def test_env_list_drops_blank_items():
    assert env.env_list("HOSTS", [], environ={"HOSTS": "a.org, ,b.org,"}) == ["a.org", "b.org"]


def test_every_variable_the_settings_read_is_documented_in_env_example():
    from tests.helpers import ROOT, SETTINGS_VARIABLES

    source = (ROOT / "clinic" / "settings.py").read_text()
    read = set(re.findall(r'env_\w+\(\s*"([A-Z_]+)"', source))
    documented = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert read, "found no env_*() calls in settings.py"
    assert read - documented == set()
    # The child processes in these tests start clean of every one of them.
    assert read - SETTINGS_VARIABLES == set()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20/hour", (20, 3600)),
        ("5/minute", (5, 60)),
        (" 100/DAY ", (100, 86400)),
        ("1/second", (1, 1)),
    ],
)
def test_a_rate_reads_as_count_and_window(text, expected):
    from clinic.env import parse_rate

    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["20", "20/fortnight", "x/hour", "0/hour", "-1/hour", "/hour"])
def test_a_bad_rate_is_refused(text):
    from clinic.env import parse_rate

    with pytest.raises(ValueError, match=r"rate|at least one"):
        parse_rate(text)
