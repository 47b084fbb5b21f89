"""/healthz: 200 when the database answers, 503 with Retry-After when it does not."""

import json

import pytest

from tests.helpers import run_python

# Asks /healthz through Django's test client in a fresh process, so the
# DATABASE_URL given to that process is the only database it knows.
ASK_HEALTHZ = (
    "import django, json; django.setup()\n"
    "from django.test import Client\n"
    "r = Client(HTTP_HOST='localhost').get('/healthz')\n"
    "print(json.dumps({'status': r.status_code, 'retry': r.get('Retry-After'),"
    " 'body': json.loads(r.content)}))\n"
)


@pytest.mark.django_db
def test_healthz_says_ok_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_answers_503_when_postgresql_does_not_listen():
    result = run_python(ASK_HEALTHZ, {"DATABASE_URL": "postgres://postgres@127.0.0.1:1/postgres"})
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer == {
        "status": 503,
        "retry": "30",
        "body": {"status": "unavailable", "database": "unavailable"},
    }


def test_healthz_answers_200_in_a_fresh_process_with_a_working_database(tmp_path):
    result = run_python(ASK_HEALTHZ, {"DATABASE_URL": f"sqlite:///{tmp_path / 'h.sqlite3'}"})
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["status"] == 200
    assert answer["body"] == {"status": "ok", "database": "ok"}


@pytest.mark.django_db
def test_healthz_refuses_writes(client):
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_healthz_answers_a_load_balancer_that_asks_by_the_servers_address(client, settings):
    settings.ALLOWED_HOSTS = ["clinic.example.org"]
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/healthz", HTTP_HOST="10.0.0.5:8000")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    # Every other page still refuses a host that is not the clinic's.
    assert client.get("/", HTTP_HOST="10.0.0.5:8000").status_code == 400
    assert client.post("/healthz", HTTP_HOST="10.0.0.5:8000").status_code == 405


ASK_LIVEZ = ASK_HEALTHZ.replace("/healthz", "/livez")


def test_livez_answers_200_when_the_database_does_not():
    """The liveness probe: a database outage must not have the web processes restarted."""
    result = run_python(ASK_LIVEZ, {"DATABASE_URL": "postgres://postgres@127.0.0.1:1/postgres"})
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer == {"status": 200, "retry": None, "body": {"status": "ok"}}


@pytest.mark.django_db
def test_livez_answers_any_host_over_plain_http_and_refuses_writes(client, settings):
    settings.ALLOWED_HOSTS = ["clinic.example.org"]
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/livez", HTTP_HOST="10.0.0.5:8000")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]
    assert client.post("/livez", HTTP_HOST="10.0.0.5:8000").status_code == 405
