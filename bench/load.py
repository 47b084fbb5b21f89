"""Load benchmark: the production server under wrk, against a baseline from the same run.

Usage: python bench/load.py [--cases 10000,1000000] [--db sqlite,postgres] [--duration 20]
       [--quick] [--workers 2] [--connections 8] [--reuse] [--endpoints NAME,...]

For each database and case count: a fresh database (SQLite file under var/bench/, or the
PostgreSQL database ``<prefix><N>``, ``load_<N>`` unless --db-prefix says otherwise, on
BENCH_POSTGRES_URL's server) is migrated and filled with
``generate_cases``; bench/load_setup.py adds an API token, a clinician and form drafts; then
gunicorn serves ``clinic.wsgi`` (DJANGO_ENV=production, throwaway SECRET_KEY, 127.0.0.1 only)
and wrk drives each endpoint (warm-up, then ``--duration`` seconds) with ``X-Forwarded-Proto:
https``. The per-address form limit and per-token API limit are raised for the run (printed).
On PostgreSQL the tables are vacuumed and their statistics refreshed (``VACUUM (ANALYZE)``)
between the endpoints that write and the list pages, as autovacuum would do on a production
server (printed).
SQL queries per request come from the bench-only X-Query-Count header (BENCH_QUERY_COUNT=1).

Prints requests/s, p50/p95/p99, queries per request and the ratio to the baseline endpoint
(POST /bench/baseline, BENCH_BASELINE=1: validate a small JSON body, insert one row), then
PASS/FAIL per target; writes bench/results/load.json. ``--quick`` is a smoke run (1,000 cases,
SQLite, 3 s per endpoint). ``--endpoints`` runs only the endpoints named (and the baseline, which
every ratio needs), to compare a change on them; the targets whose endpoints did not run are
left out. wrk is installed with apt-get when missing.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
GUNICORN = str(Path(PY).with_name("gunicorn"))
WRK_DIR = ROOT / "bench" / "wrk"
RESULTS = ROOT / "bench" / "results"
HOST = "127.0.0.1"
CSRF_SECRET = "b" * 32  # an unmasked CSRF secret: Django accepts it as the form token too
# Raised for the bench only (printed at the start): one client address and one token send
# every request, far beyond the production defaults (20 forms an hour, 120 API calls a minute).
LIMITS = {"FORM_RATE_LIMIT": "100000000/hour", "API_RATE_LIMIT": "100000000"}
WORKED = {
    "routine, 1 queue (V01)": "V01",
    "routine, 3 queues (V22)": "V22",
    "emergency (V09)": "V09",
}

# Targets (issue 7).
SUBMIT_RATIO_MIN = 0.5
SUBMIT_QUERIES_MAX = 20
LIST_P95_MS_MAX = 50.0


@dataclass
class Endpoint:
    name: str
    method: str
    path: str
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    sessions: list[str] | None = None  # one request per key (the form's final step)


@dataclass
class Result:
    db: str
    cases: int
    endpoint: str
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    requests: int
    queries: int | None
    ratio: float | None = None


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is missing: apt-get install -y wrk", flush=True)
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)
    return shutil.which("wrk") or "wrk"


def machine() -> dict[str, Any]:
    mem = 0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024
    return {"nproc": os.cpu_count(), "memory_mib": mem, "load": os.getloadavg()}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def database_url(db: str, cases: int, postgres: str, fresh: bool, prefix: str = "load_") -> str:
    if db == "sqlite":
        path = ROOT / "var" / "bench" / f"{prefix}{cases}.sqlite3"
        path.parent.mkdir(parents=True, exist_ok=True)
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    import psycopg

    name = f"{prefix}{cases}"
    if fresh:
        with psycopg.connect(postgres, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"CREATE DATABASE {name}")
    return postgres.rsplit("/", 1)[0] + f"/{name}"


def server_env(url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_ENV": "production",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": HOST,
        "MAIL_BACKEND": "locmem",
        "BENCH_QUERY_COUNT": "1",
        "BENCH_BASELINE": "1",
        "DATABASE_CONN_MAX_AGE": "600",
        **LIMITS,
    }


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"failed: manage.py {' '.join(args)}")
    return done.stdout


def prepare(env: dict[str, str], cases: int, fresh: bool, drafts: int, password: str) -> dict:
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "collectstatic", "--noinput", "-v0")
    if fresh:
        began = time.perf_counter()
        out = manage(env, "generate_cases", "--count", str(cases), "--no-progress", "--force")
        print(f"  generated in {time.perf_counter() - began:,.0f} s: {out.strip()}", flush=True)
    done = subprocess.run(
        # "=": a random password may begin with "-", which argparse would take for an option.
        [PY, "bench/load_setup.py", "--drafts", str(drafts), f"--password={password}"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode:
        sys.stderr.write(done.stderr)
        raise SystemExit("bench/load_setup.py failed")
    return json.loads(done.stdout)


class Server:
    def __init__(self, env: dict[str, str], workers: int) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [GUNICORN, "clinic.wsgi", "-w", str(workers), "-b", f"{HOST}:{self.port}",
             "--access-logfile", "-", "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise SystemExit("gunicorn did not answer /healthz")

    def request(
        self, method: str, path: str, body: str | bytes | None = None, headers: dict | None = None
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        try:
            conn.request(method, path, body, {"X-Forwarded-Proto": "https", **(headers or {})})
            response = conn.getresponse()
            return response.status, response.headers, response.read()
        finally:
            conn.close()

    def login(self, username: str, password: str) -> str:
        """The admin login form, as a browser does it; returns the session cookie."""
        status, headers, page = self.request("GET", "/admin/login/")
        cookies = _cookies(headers)
        token = page.decode().split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
        form = {"username": username, "password": password, "csrfmiddlewaretoken": token}
        status, headers, _ = self.request(
            "POST", "/admin/login/?next=/admin/", urllib.parse.urlencode(form),
            {"Cookie": f"csrftoken={cookies['csrftoken']}", "Origin": f"https://{HOST}:{self.port}",
             "Content-Type": "application/x-www-form-urlencoded"},
        )  # fmt: skip
        session = _cookies(headers).get("sessionid")
        if status != 302 or not session:
            raise SystemExit(f"staff login failed ({status})")
        return session

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)


def _cookies(headers: http.client.HTTPMessage) -> dict[str, str]:
    out = {}
    for value in headers.get_all("Set-Cookie") or []:
        name, _, rest = value.partition("=")
        out[name.strip()] = rest.split(";", 1)[0]
    return out


def intake_body(case: str) -> str:
    cases = json.loads((ROOT / "tests" / "data" / "examples.json").read_text())
    answers = dict(next(c for c in cases if c["id"].startswith(case))["answers"])
    answers.pop("age_years")
    return json.dumps(
        {
            "given_name": "Ada",
            "family_name": "@FAMILY@",
            "date_of_birth": "@DOB@",
            "phone": "07700 900123",
            "email": "",
            "preferred_contact": "phone",
            "answers": answers,
        }
    )


def preview_body() -> str:
    cases = json.loads((ROOT / "tests" / "data" / "examples.json").read_text())
    return json.dumps({"answers": next(c for c in cases if c["id"].startswith("V22"))["answers"]})


# Every endpoint, in the order they run (the ones that write first).
ENDPOINT_NAMES = (
    "baseline",
    "api_intake_submit",
    "form_final_step",
    "api_triage_preview",
    "api_referrals_first",
    "api_referrals_deep",
    "admin_queue",
    "admin_case",
)


def chosen(names: str | None) -> set[str] | None:
    """``--endpoints``: the endpoints to run, the baseline always among them (None: all)."""
    if names is None:
        return None
    wanted = {name.strip() for name in names.split(",") if name.strip()}
    unknown = sorted(wanted - set(ENDPOINT_NAMES))
    if unknown or not wanted:
        raise ValueError(
            f"unknown endpoint(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(ENDPOINT_NAMES)}"
        )
    return wanted | {"baseline"}


def endpoints(server: Server, fixtures: dict, session: str) -> list[Endpoint]:
    api = {"Authorization": f"Bearer {fixtures['token']}", "Content-Type": "application/json"}
    staff = {"Cookie": f"sessionid={session}"}
    form = urllib.parse.urlencode(
        {**fixtures["form_last_step"], "csrfmiddlewaretoken": CSRF_SECRET}, doseq=True
    )
    form_headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Origin": f"https://{HOST}:{server.port}",
    }
    deep = urllib.parse.quote(fixtures["deep_cursor"] or "")
    return [
        Endpoint("baseline", "POST", "/bench/baseline", '{"name": "x", "value": 1}',
                 {"Content-Type": "application/json"}),
        Endpoint("api_intake_submit", "POST", "/api/v1/intakes", intake_body("V01"), api),
        Endpoint("form_final_step", "POST", f"/form/{fixtures['form_step_code']}/", form,
                 form_headers, sessions=fixtures["form_sessions"]),
        Endpoint("api_triage_preview", "POST", "/api/v1/triage/preview", preview_body(), api),
        Endpoint("api_referrals_first", "GET", "/api/v1/referrals", None, api),
        Endpoint("api_referrals_deep", "GET", f"/api/v1/referrals?cursor={deep}", None, api),
        Endpoint("admin_queue", "GET", "/admin/referrals/referral/", None, staff),
        Endpoint("admin_case", "GET",
                 f"/admin/referrals/referral/{fixtures['case_id']}/change/", None, staff),
    ]  # fmt: skip


SAMPLES = 4


def sample_queries(server: Server, endpoint: Endpoint) -> int | None:
    """X-Query-Count of a request: the fewest of ``SAMPLES`` sent one after the other.

    Some work is done once a minute, not once a request, each on a clock of its own: the first
    request of a rate-limit window creates its counter row, a token's first request a minute
    after its last stamp stamps last_used_at again, a session's expiry is pushed on a minute
    after the last push. One sample that happened to do such work counted one statement more
    than the next (the API's first page 4, its deep page 3, at 1,000,000 cases on 2026-12-03).
    Requests sent back to back take well under a minute, so each of the three falls on at most
    one of them, and one of four does none.
    """
    counts = [_one_sample(server, endpoint) for _ in range(SAMPLES)]
    known = [count for count in counts if count is not None]
    return min(known) if known else None


def _one_sample(server: Server, endpoint: Endpoint) -> int | None:
    """X-Query-Count of one request (the form uses a key kept aside for it)."""
    headers = dict(endpoint.headers)
    body = endpoint.body
    if body and "@FAMILY@" in body:
        # A new patient each time: a repeat would join open referrals instead of creating them.
        family = "Probe" + "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(8))
        body = body.replace("@FAMILY@", family).replace("@DOB@", "1970-01-01")
    if endpoint.sessions is not None:
        headers["Cookie"] = f"sessionid={endpoint.sessions.pop()}; csrftoken={CSRF_SECRET}"
    status, response, _ = server.request(endpoint.method, endpoint.path, body, headers)
    if status >= 400:
        print(f"  ! {endpoint.name} answered {status}", flush=True)
    count = response.get("X-Query-Count")
    return int(count) if count is not None else None


def run_wrk(
    wrk: str, server: Server, endpoint: Endpoint, seconds: float, args: argparse.Namespace,
    tmp: Path, sessions: list[str] | None,
) -> dict:  # fmt: skip
    env = {**os.environ, "BENCH_METHOD": endpoint.method, "BENCH_THREADS": "2"}
    headers = tmp / f"{endpoint.name}.headers"
    headers.write_text(
        "".join(
            f"{k}: {v}\n" for k, v in {"X-Forwarded-Proto": "https", **endpoint.headers}.items()
        )
    )
    env["BENCH_HEADERS"] = str(headers)
    if endpoint.body is not None:
        body = tmp / f"{endpoint.name}.body"
        body.write_text(endpoint.body)
        env["BENCH_BODY"] = str(body)
    if sessions is not None:
        keys = tmp / f"{endpoint.name}.sessions"
        keys.write_text("\n".join(sessions) + "\n")
        env["BENCH_SESSIONS"] = str(keys)
        env["BENCH_COOKIE"] = f"csrftoken={CSRF_SECRET}"
    done = subprocess.run(
        [wrk, "-t2", f"-c{args.connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
         "-s", str(WRK_DIR / "request.lua"), f"http://{HOST}:{server.port}{endpoint.path}"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    line = [row for row in done.stdout.splitlines() if row.startswith('{"requests"')][-1]
    return json.loads(line)


def explain_plans(env: dict[str, str], db: str, cases: int) -> dict[str, Any]:
    """bench/explain.py on this database: EXPLAIN (ANALYZE, BUFFERS) of every list query the
    pages run, saved under bench/results/plans/<db>_<cases>/; ok when each uses an index and
    no Sort reads the referral table."""
    out = RESULTS / "plans" / f"{db}_{cases}"
    done = subprocess.run(
        [PY, "bench/explain.py", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    print(f"  query plans (EXPLAIN ANALYZE), saved in {out.relative_to(ROOT)}/:", flush=True)
    for line in lines:
        print(f"    {line}", flush=True)
    if done.returncode not in (0, 1):
        sys.stderr.write(done.stderr)
    return {"ok": done.returncode == 0, "dir": str(out.relative_to(ROOT)), "lines": lines}


def bench_one(db: str, cases: int, args: argparse.Namespace, wrk: str) -> list[Result]:
    print(f"\n== {db}, {cases:,} cases ==", flush=True)
    fresh = not args.reuse
    url = database_url(db, cases, args.postgres_url, fresh, args.db_prefix)
    env = server_env(url)
    password = secrets.token_urlsafe(16)
    # Enough drafts that the form never runs out: warm-up and run each get their own share.
    drafts = max(2000, int(400 * (args.duration + args.warmup)) + 10)
    fixtures = prepare(env, cases, fresh, drafts, password)
    plans = explain_plans(env, db, cases) if db == "postgres" else None
    server = Server(env, args.workers)
    results: list[Result] = []
    try:
        session = server.login(fixtures["staff_username"], password)
        every = endpoints(server, fixtures, session)
        assert [p.name for p in every] == list(ENDPOINT_NAMES)  # noqa: S101 - the names' order
        points = [p for p in every if args.only is None or p.name in args.only]
        with tempfile.TemporaryDirectory(prefix="load_") as name:
            tmp = Path(name)
            worked: dict[str, int | None] = {}
            for label, case in WORKED.items():
                probe = Endpoint("probe", "POST", "/api/v1/intakes", intake_body(case),
                                 every[1].headers)  # fmt: skip
                worked[label] = sample_queries(server, probe)
            print(f"  SQL queries per API submission: {worked}", flush=True)
            pool = list(fixtures["form_sessions"])
            reads_from = first_read(points)
            for endpoint in points:
                if db == "postgres" and endpoint.name == reads_from:
                    print(f"  {refresh_statistics(url)}", flush=True)
                if endpoint.sessions is not None:
                    endpoint.sessions = pool
                queries = sample_queries(server, endpoint)
                warm = run_wrk(wrk, server, endpoint, args.warmup, args, tmp,
                               _take(pool, drafts // 3) if endpoint.sessions else None)  # fmt: skip
                del warm
                out = run_wrk(wrk, server, endpoint, args.duration, args, tmp,
                              pool if endpoint.sessions else None)  # fmt: skip
                errors = sum(out[k] for k in ("connect", "read", "write", "status", "timeout"))
                rps = out["requests"] / (out["duration_us"] / 1e6)
                result = Result(
                    db, cases, endpoint.name, rps, out["p50"] / 1000, out["p95"] / 1000,
                    out["p99"] / 1000, errors, out["requests"], queries,
                )  # fmt: skip
                results.append(result)
                print(f"  {_row(result)}", flush=True)
            form = [r for r in results if r.endpoint == "form_final_step"]
            if fixtures["form_sessions"] and form:
                used = form[0].requests
                if used > len(pool):
                    print(f"  ! the form ran out of drafts ({used} > {len(pool)})")
    finally:
        server.stop()
    base = next(r for r in results if r.endpoint == "baseline").rps
    for result in results:
        result.ratio = result.rps / base if base else None
    results.append(Result(db, cases, "_worked_queries", 0, 0, 0, 0, 0, 0, None))
    results[-1].__dict__["worked"] = worked
    if plans is not None:
        results[-1].__dict__["plans"] = plans
    return results


def first_read(points: list[Endpoint]) -> str | None:
    """The first endpoint that only reads: the ones before it write thousands of rows."""
    return next((p.name for p in points if p.method == "GET"), None)


def refresh_statistics(url: str) -> str:
    """``VACUUM (ANALYZE)`` between the write and the read endpoints (PostgreSQL), as
    autovacuum would (PostgreSQL 13 and later vacuum a table after inserts too).

    The submissions and form steps before the list pages add thousands of open referrals
    (2,470 rows to a 10,000-case database's tables in one run, 17 %). A server with autovacuum
    analyses such tables within a minute; where it is off (as on the 2026-12-03 machines), the
    planner took a queue of 1,333 open referrals for 24 and read the admin page by the wrong
    index (12 ms instead of 2.6). The vacuum sets the visibility map: without it the admin
    queue's capped count, an index-only scan, read the table's rows as well (1,000,000 cases,
    2026-12-05: p95 82.7 ms with ANALYZE alone, 47.6 after a VACUUM). Returns the line to
    print."""
    import psycopg  # the app's driver, in the same venv

    began = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        autovacuum = conn.execute("SHOW autovacuum").fetchone()[0]  # type: ignore[index]
        conn.execute("VACUUM (ANALYZE)")
    return (
        "tables vacuumed and statistics refreshed before the list pages (VACUUM (ANALYZE), "
        f"{time.perf_counter() - began:.1f} s; this server's autovacuum: {autovacuum})"
    )


def _take(pool: list[str], count: int) -> list[str]:
    taken = pool[-count:]
    del pool[-count:]
    return taken


def _row(r: Result) -> str:
    ratio = f"{r.ratio:5.2f}x" if r.ratio is not None else "   -  "
    return (
        f"{r.endpoint:22} {r.rps:8,.0f} req/s  p50 {r.p50_ms:7.1f}  p95 {r.p95_ms:7.1f}  "
        f"p99 {r.p99_ms:7.1f} ms  queries {r.queries!s:>3}  errors {r.errors:<5} {ratio}"
    )


def verdicts(results: list[Result], triage_line: str) -> list[tuple[str, bool | None, str]]:
    rows: list[tuple[str, bool | None, str]] = []
    real = [r for r in results if not r.endpoint.startswith("_")]
    for db_cases in sorted({(r.db, r.cases) for r in real}):
        mine = {r.endpoint: r for r in real if (r.db, r.cases) == db_cases}
        label = f"{db_cases[0]} {db_cases[1]:,}"
        if "api_intake_submit" in mine:
            ratio = mine["api_intake_submit"].ratio or 0
            rows.append((f"{label}: API submission >= {SUBMIT_RATIO_MIN}x baseline",
                         ratio >= SUBMIT_RATIO_MIN, f"{ratio:.2f}x"))  # fmt: skip
        worked = next(
            r.__dict__["worked"] for r in results
            if r.endpoint == "_worked_queries" and (r.db, r.cases) == db_cases
        )  # fmt: skip
        counts = [c for c in worked.values() if c is not None]
        detail = ", ".join(f"{k}: {v}" for k, v in worked.items())
        rows.append((f"{label}: <= {SUBMIT_QUERIES_MAX} queries per API submission",
                     bool(counts) and max(counts) <= SUBMIT_QUERIES_MAX, detail))  # fmt: skip
        rows.append((f"{label}: the same number of queries for every worked case",
                     bool(counts) and len(set(counts)) == 1, detail))  # fmt: skip
        if "api_referrals_first" in mine and "api_referrals_deep" in mine:
            first, deep = mine["api_referrals_first"], mine["api_referrals_deep"]
            rows.append((f"{label}: referral list first and deep page run the same queries",
                         first.queries == deep.queries,
                         f"{first.queries} / {deep.queries}"))  # fmt: skip
        if db_cases == ("postgres", 1_000_000):
            lists = ("api_referrals_first", "api_referrals_deep", "admin_queue")
            for r in (mine[name] for name in lists if name in mine):
                rows.append((f"{label}: {r.endpoint} p95 < {LIST_P95_MS_MAX:.0f} ms",
                             r.p95_ms < LIST_P95_MS_MAX, f"{r.p95_ms:.1f} ms"))  # fmt: skip
    for name in ("api_referrals_first", "api_referrals_deep", "admin_queue"):
        by_size = {(r.db, r.cases): r.queries for r in real if r.endpoint == name}
        for db in sorted({d for d, _ in by_size}):
            per_size = {c: q for (d, c), q in by_size.items() if d == db}
            if len(per_size) > 1:
                rows.append((f"{db}: {name} queries constant across case counts",
                             len(set(per_size.values())) == 1, str(per_size)))  # fmt: skip
    if not any(r[0].startswith("postgres 1,000,000") for r in rows):
        rows.append(("list pages p95 < 50 ms at 1,000,000 cases on PostgreSQL", None, "not run"))
    for r in results:
        plans = r.__dict__.get("plans")
        if r.endpoint == "_worked_queries" and plans is not None:
            bad = [line for line in plans["lines"] if line.startswith("BAD")]
            rows.append((f"{r.db} {r.cases:,}: list queries use indexes, no sort of the table "
                         "(EXPLAIN)", plans["ok"],
                         f"{len(bad)} bad; plans in {plans['dir']}/"))  # fmt: skip
    rows.append(("triage >= 20,000/s per core (bench/triage.py)", "PASS" in triage_line,
                 triage_line))  # fmt: skip
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", default="10000,1000000")
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1,000 cases, SQLite, 3 s")
    parser.add_argument("--reuse", action="store_true", help="reuse the databases of a last run")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="a server where the bench may drop and create databases named <prefix><N>",
    )
    parser.add_argument(
        "--db-prefix",
        default="load_",
        help="name databases <prefix><N> (a shared server: keep to the names that are yours)",
    )
    parser.add_argument(
        "--endpoints",
        help=f"only these, comma-separated, and the baseline ({', '.join(ENDPOINT_NAMES)})",
    )
    parser.add_argument("--out", default=str(RESULTS / "load.json"))
    args = parser.parse_args()
    try:
        args.only = chosen(args.endpoints)
    except ValueError as error:
        parser.error(f"--endpoints: {error}")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", args.db_prefix):
        parser.error("--db-prefix: lower-case letters, digits and underscores (a database name)")
    if args.quick:
        args.cases, args.db, args.duration, args.warmup = "1000", "sqlite", 3.0, 1.0
    sizes = [int(n) for n in args.cases.split(",")]
    dbs = args.db.split(",")
    wrk = ensure_wrk()
    info = machine()
    print(f"machine: {info['nproc']} cores, {info['memory_mib']:,} MiB; load average "
          f"{' '.join(f'{x:.2f}' for x in info['load'])}")  # fmt: skip
    print(f"gunicorn: {args.workers} workers; wrk: 2 threads, {args.connections} connections, "
          f"{args.warmup:g} s warm-up + {args.duration:g} s per endpoint")  # fmt: skip
    print("limits raised for this run: " + ", ".join(f"{k}={v}" for k, v in LIMITS.items()))
    triage = subprocess.run(
        [PY, "bench/triage.py", "20000"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    print(f"triage: {triage}", flush=True)
    results: list[Result] = []
    for db in dbs:
        for cases in sizes:
            results.extend(bench_one(db, cases, args, wrk))
    rows = verdicts(results, triage)
    print("\nTargets:")
    failed = False
    for name, ok, detail in rows:
        mark = "n/a " if ok is None else "PASS" if ok else "FAIL"
        failed |= ok is False
        print(f"  {mark} {name}: {detail}")
    info["load_after"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps(
            {
                "machine": info,
                "command": " ".join(sys.argv),
                "workers": args.workers,
                "duration": args.duration,
                "results": [asdict(r) | r.__dict__ for r in results],
                "targets": [{"target": n, "ok": ok, "detail": d} for n, ok, d in rows],
            },
            indent=2,
            default=str,
        )
    )
    print(f"\nresults: {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
