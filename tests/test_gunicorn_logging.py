"""gunicorn as the README starts it writes access lines without patient data or resume tokens."""

import contextlib
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from clinic.gunicorn_logging import masked_query, masked_target
from tests.helpers import PRODUCTION_ENV, ROOT, child_env

GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
TOKEN = "r3sUmE-tok3n-0123456789abcdef"  # a made-up resume token


ACCESS_LOG = ("--access-logfile", "-")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str, headers: dict[str, str]) -> None:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - our own test server

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object) -> None:
            return None

    with contextlib.suppress(urllib.error.HTTPError):
        urllib.request.build_opener(NoRedirect).open(request, timeout=10)


def head(url: str, headers: dict[str, str], status: int) -> None:
    request = urllib.request.Request(url, headers=headers, method="HEAD")  # noqa: S310
    try:
        response = urllib.request.urlopen(request, timeout=10)  # noqa: S310 - our own server
    except urllib.error.HTTPError as error:
        response = error
    with response:
        assert response.status == status
        assert int(response.headers["Content-Length"]) > 0  # as GET would say


def test_the_documented_gunicorn_command_logs_no_search_terms_or_resume_tokens(tmp_path: Path):
    port = free_port()
    env = {**PRODUCTION_ENV, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(  # noqa: S603 - the README's command, our own app
        [str(GUNICORN), "clinic.wsgi", "-w", "1", "-b", f"127.0.0.1:{port}", *ACCESS_LOG],
        cwd=ROOT,
        env=child_env(env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        host = {"Host": "clinic.example.org"}
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while "Booting worker" not in (tmp_path / "gunicorn.log").read_text():
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.2)
        time.sleep(1)
        get(f"{base}/resume/{TOKEN}/", host)
        for path, status in (("/healthz", 200), ("/api/v1/questionnaire", 401)):
            head(f"{base}{path}", {**host, "X-Forwarded-Proto": "https"}, status)
        search = "q=Bront%C3%AB%2C+Zo%C3%AB+17%2F05%2F1980&status=new"
        referrer = f"https://clinic.example.org/resume/{TOKEN}/?phone=07700900123"
        get(f"{base}/admin/referrals/referral/?{search}", {**host, "Referer": referrer})
        time.sleep(1)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
    text = (tmp_path / "gunicorn.log").read_text()
    assert '"GET /resume/[masked]/ HTTP/1.1" 301' in text, text
    assert '"GET /admin/referrals/referral/?q&status HTTP/1.1" 301' in text, text
    assert '"https://clinic.example.org/resume/[masked]/?phone"' in text, text
    # A HEAD probe is its access line only (gunicorn warned of the body it had to drop).
    assert text.count('"HEAD ') == 2, text
    assert "no-body response" not in text, text
    for secret in (TOKEN, "Bront", "1980", "07700900123", "new"):
        assert secret not in text.split("Booting worker")[-1], secret


def test_a_query_keeps_its_parameter_names_only():
    assert masked_query("q=Smith%2C+John&status=new&overdue") == "q&status&overdue"
    assert masked_query("") == ""
    assert masked_target(f"/resume/{TOKEN}/?x=1#top") == "/resume/[masked]/?x"
