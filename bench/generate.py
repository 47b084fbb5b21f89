"""Throughput of ``manage.py generate_cases`` on SQLite and PostgreSQL.

Usage: python bench/generate.py [N] [--seed S] [--batch B] [--workers W] [--skip-postgres]
       [--postgres-url postgres://postgres@127.0.0.1:5432/postgres] [--postgres-db NAME]

Each database starts empty and migrated (a fresh SQLite file; a PostgreSQL database named
``load_generate`` (or ``--postgres-db``) that is dropped and created again, and dropped at the
end). Prints the load average and, as a baseline measured in the same run, bench/triage.py's
validation + triage rate, then cases/second and CPU time per case (writer and workers) for each
database and PASS/FAIL against 5,000 cases/second on SQLite (PostgreSQL is reported only).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
TARGET_PER_SECOND = 5_000
BENCH_DB = "load_generate"


def run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1) or "Traceback" in done.stderr:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"failed: {' '.join(args)}")
    return done.stdout


def environment(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "false",
        "DJANGO_ENV": "development",
    }


def generate(database_url: str, args: argparse.Namespace) -> tuple[float, str]:
    env = environment(database_url)
    run([PY, "manage.py", "migrate", "--noinput", "-v0"], env)
    command = [PY, "manage.py", "generate_cases", "--count", str(args.n), "--no-progress"]
    command += ["--seed", str(args.seed), "--batch", str(args.batch)]
    if args.workers is not None:
        command += ["--workers", str(args.workers)]
    out = run(command, env)
    match = re.search(r"([\d,]+) cases/s", out)
    if match is None:
        raise SystemExit(f"no rate in output: {out!r}")
    cpu = re.search(r"CPU per case: (.*)", out)
    return float(match.group(1).replace(",", "")), cpu.group(1) if cpu else ""


def fresh_postgres(url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    return url.rsplit("/", 1)[0] + f"/{name}"


def drop_postgres(url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("n", nargs="?", type=int, default=20_000, help="cases (20,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="generate_cases --workers (default: its own default, the number of CPUs)",
    )
    parser.add_argument(
        "--postgres-db",
        default=BENCH_DB,
        help=f"the database the bench drops, creates and drops again ({BENCH_DB})",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="a server where the bench may drop and create the database load_generate",
    )
    args = parser.parse_args()

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    baseline = run([PY, "bench/triage.py", "20000"], {**os.environ}).strip()
    print(f"baseline (same run): {baseline}")

    with tempfile.TemporaryDirectory(prefix="scale_bench_") as tmp:
        sqlite_rate, sqlite_cpu = generate(f"sqlite:///{tmp}/bench.sqlite3", args)
    verdict = "PASS" if sqlite_rate >= TARGET_PER_SECOND else "FAIL"
    print(
        f"SQLite: {args.n:,} cases at {sqlite_rate:,.0f} cases/s; "
        f"target {TARGET_PER_SECOND:,}/s: {verdict}"
    )
    print(f"SQLite CPU per case: {sqlite_cpu}")
    if not args.skip_postgres:
        try:
            pg_rate, pg_cpu = generate(fresh_postgres(args.postgres_url, args.postgres_db), args)
        finally:
            drop_postgres(args.postgres_url, args.postgres_db)
        print(f"PostgreSQL: {args.n:,} cases at {pg_rate:,.0f} cases/s (reported, no target)")
        print(f"PostgreSQL CPU per case: {pg_cpu}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
