"""A real service for fault and soak tests: its own PostgreSQL cluster, gunicorn, a worker,
and HTTP clients for the API and the patient form (docs/RELIABILITY.md).

The cluster is created on its own port and dropped afterwards: the shared cluster on 5432 is
never stopped or reconfigured. Creating clusters needs root (pg_createcluster).
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import secrets
import shutil
import signal
import socket
import string
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.clinic_fixtures import worked_case
from tests.form_data import IDENTITY, all_steps
from tests.helpers import ROOT, child_env, run_manage, run_python

PYTHON = str(ROOT / ".venv" / "bin" / "python")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def need_cluster_tools() -> None:
    if (
        os.geteuid() != 0
        or not shutil.which("pg_createcluster")
        or not Path("/etc/postgresql").exists()
    ):
        pytest.skip("fault and soak tests create a PostgreSQL cluster: run as root with postgresql")


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed PostgreSQL tools
        list(args), capture_output=True, text=True, timeout=timeout, check=True
    )


@dataclass
class Cluster:
    """A throw-away PostgreSQL cluster on a loopback port (trust authentication)."""

    name: str
    port: int
    version: str = field(
        default_factory=lambda: sorted(os.listdir("/etc/postgresql"), key=float)[-1]
    )

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/clinic"

    def create(self) -> None:
        _run("pg_createcluster", self.version, self.name, "--port", str(self.port), "--",
             "--auth=trust")  # fmt: skip
        self.start()
        _run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-c",
             "CREATE DATABASE clinic")  # fmt: skip

    def start(self) -> None:
        _run("pg_ctlcluster", self.version, self.name, "start")
        for _ in range(60):
            if (
                subprocess.run(  # noqa: S603
                    ["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port)],  # noqa: S607
                    check=False,
                ).returncode
                == 0
            ):
                return
            time.sleep(0.25)
        raise RuntimeError("the fault cluster did not start")

    def stop(self) -> None:
        # Fast mode: open connections are cut, as when the server goes away under load.
        _run("pg_ctlcluster", self.version, self.name, "stop", "-m", "fast")

    def drop(self) -> None:
        subprocess.run(  # noqa: S603
            ["pg_dropcluster", "--stop", self.version, self.name],  # noqa: S607
            capture_output=True,
            check=False,
        )

    def query(self, sql: str) -> str:
        return _run(
            "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "clinic",
            "-tAc", sql,
        ).stdout.strip()  # fmt: skip


@contextmanager
def cluster(prefix: str) -> Iterator[Cluster]:
    need_cluster_tools()
    made = Cluster(name=f"faults_{prefix}_{os.getpid()}", port=free_port())
    made.create()
    try:
        yield made
    finally:
        made.drop()


def service_env(db: Cluster, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": db.url,
        "DJANGO_ENV": "development",
        "DEBUG": "0",
        "TESTING": "0",
        "TASKS_BACKEND": "database",
        "LOG_LEVEL": "warning",
        "API_RATE_LIMIT": "1000000",
        "FORM_RATE_LIMIT": "1000000/hour",
        **extra,
    }


def migrate(env: Mapping[str, str]) -> None:
    result = run_manage("migrate", "--noinput", env=env, timeout=300)
    assert result.returncode == 0, result.stderr


def make_token(env: Mapping[str, str], name: str = "Load") -> str:
    result = run_python(
        "import django; django.setup()\n"
        "from referrals.models import Scope\n"
        "from referrals.tokens import api_token_create\n"
        f"print(api_token_create(name={name!r}, scopes=Scope.values).raw)",
        env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


class Gunicorn:
    def __init__(self, env: Mapping[str, str], *, workers: int = 2, threads: int = 1) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(ROOT / "test-artifacts" / f"gunicorn-{self.port}.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(  # noqa: S603 - our interpreter and app
            [
                PYTHON,
                "-m",
                "gunicorn",
                "clinic.wsgi",
                "-w",
                str(workers),
                "--threads",
                str(threads),
                "-b",
                f"127.0.0.1:{self.port}",
                "--timeout",
                "60",
            ],
            cwd=ROOT,
            env=child_env(env),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if request("GET", f"{self.base}/healthz")[0] == 200:
                return
            time.sleep(0.3)
        self.stop()
        raise RuntimeError("gunicorn did not answer /healthz")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


(ROOT / "test-artifacts").mkdir(exist_ok=True)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    opener: urllib.request.OpenerDirector | None = None,
    timeout: float = 30,
) -> tuple[int, Reply]:
    """(status, reply); status 0 when the connection itself failed."""
    req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))  # noqa: S310
    try:
        with (opener or _NO_REDIRECT).open(req, timeout=timeout) as response:
            reply = Reply(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        reply = Reply(error.code, dict(error.headers), error.read())
    except (urllib.error.URLError, OSError):
        return 0, Reply(0, {}, b"")
    return reply.status, reply


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_NO_REDIRECT = urllib.request.build_opener(_NoRedirect())


def random_patient() -> dict[str, str]:
    letters = "".join(secrets.choice(string.ascii_lowercase) for _ in range(10))
    digits = "".join(secrets.choice(string.digits) for _ in range(6))
    return {
        **{key: str(value) for key, value in IDENTITY.items()},
        "given_name": "Load",
        "family_name": f"Test{letters}",
        "phone": f"07700 {digits}",
    }


def api_body(patient: Mapping[str, str], case: str = "V01") -> dict[str, Any]:
    return {
        "given_name": patient["given_name"],
        "family_name": patient["family_name"],
        "date_of_birth": patient["date_of_birth"],
        "phone": patient["phone"],
        "email": "",
        "preferred_contact": "phone",
        "answers": worked_case(case),
    }


def api_submit(base: str, token: str, body: Mapping[str, Any], key: str | None = None) -> Reply:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    return request("POST", f"{base}/api/v1/intakes", body=json.dumps(body).encode(),
                   headers=headers)[1]  # fmt: skip


CSRF_FIELD = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


def form_submit(base: str, patient: Mapping[str, str], case: str = "V01") -> list[Reply]:
    """Walk the patient form step by step like a browser without JavaScript.

    Returns every reply; the walk stops at the first that is not the expected redirect.
    """
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect())
    replies: list[Reply] = []
    _, page = request("GET", f"{base}/form/identity/", opener=opener)
    replies.append(page)
    if page.status != 200:
        return replies
    match = CSRF_FIELD.search(page.body)
    token = match.group(1).decode() if match else ""
    for step, data in all_steps(worked_case(case), dict(patient)):
        encoded = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": token}, doseq=True)
        _, reply = request(
            "POST",
            f"{base}/form/{step}/",
            body=encoded.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", "Referer": base},
            opener=opener,
        )
        replies.append(reply)
        if reply.status != 302:
            return replies
    return replies
