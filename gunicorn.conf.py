# gunicorn reads this file from the directory it is started in (the README's commands start it
# from the repository).
import subprocess
import sys
from pathlib import Path

# Access log lines without query values or resume tokens: clinic/gunicorn_logging.py.
logger_class = "clinic.gunicorn_logging.MaskedAccessLogger"

# Loads the settings and says an ImproperlyConfigured in one line (exit status 2).
CHECK_SETTINGS = """
import sys
from django.core.exceptions import ImproperlyConfigured
try:
    import clinic.settings
except ImproperlyConfigured as error:
    print(error, file=sys.stderr)
    sys.exit(2)
"""


def on_starting(server: object) -> None:
    """Read the settings once before any worker starts: a bad variable is one line.

    Left to the workers, each printed it and gunicorn's own halt, two workers failing at once,
    ended in a traceback of its own (clinic/wsgi.py still says it in one line for a server run
    alone). A child process reads them, so the master imports none of the application, and a
    HUP's new workers load the new code and settings as before.
    """
    checked = subprocess.run(  # noqa: S603 - this interpreter and the fixed script above
        [sys.executable, "-c", CHECK_SETTINGS],
        cwd=Path(__file__).resolve().parent,
        capture_output=True,
        text=True,
        check=False,
    )
    if checked.returncode == 2:
        sys.exit(f"Configuration error: {checked.stderr.strip()}")
