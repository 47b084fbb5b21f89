"""Per-request time of the write endpoints, in-process (no server, no wrk): where the time goes.

Usage: DATABASE_URL=... python bench/profile_submit.py [--requests 300] [--profile NAME]
       [--sort cumulative] [--top 40]

Run after ``migrate`` (and ``generate_cases`` for a realistic table size), with the server's
environment (DJANGO_ENV=production, DEBUG=false, a SECRET_KEY, BENCH_QUERY_COUNT=1,
BENCH_BASELINE=1, ALLOWED_HOSTS=testserver, API_RATE_LIMIT raised as bench/load.py does).
Creates an API token with every scope, then sends each request through Django's test client
(the whole middleware stack) ``--requests`` times after a warm-up and prints wall and CPU
milliseconds per request and SQL statements per request, and each endpoint's CPU against the
baseline's. Every submission is a new patient, as in bench/load.py. ``--profile NAME``
(baseline, api_submit, api_preview) prints a cProfile of that request instead.
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import json
import os
import pstats
import secrets
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--profile", default="")
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--dump", default="", help="also write the raw profile to this file")
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from load import intake_body, preview_body  # bench/load.py: the bodies the load run sends

    from referrals.models import Scope
    from referrals.tokens import api_token_create

    created = api_token_create(name="Profile submit", scopes=Scope.values)
    api = Client(headers={"Authorization": f"Bearer {created.raw}"})
    plain = Client()
    template = intake_body("V01")
    numbers = itertools.count()
    run = secrets.token_hex(4)  # the names of this run: an earlier run's would be returning

    def submission() -> str:
        # A new patient each time: a repeat would join open referrals instead of creating them.
        n = next(numbers)
        family = "Profile" + "".join(chr(ord("a") + int(d, 16)) for d in f"{run}{n:08x}")
        return template.replace("@FAMILY@", family).replace("@DOB@", "1970-01-01")

    requests = {
        "baseline": (plain, "/bench/baseline", lambda: json.dumps({"name": "x", "value": 1})),
        "api_submit": (api, "/api/v1/intakes", submission),
        "api_preview": (api, "/api/v1/triage/preview", preview_body),
    }

    def send(name: str) -> int:
        client, url, body = requests[name]
        response = client.post(url, body(), content_type="application/json", secure=True)
        assert response.status_code in (200, 201), (name, response.status_code, response.content)  # noqa: S101
        return int(response.get("X-Query-Count") or -1)

    print(f"{connection.vendor}")
    if args.profile:
        for _ in range(5):
            send(args.profile)
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.requests):
            send(args.profile)
        profile.disable()
        if args.dump:
            profile.dump_stats(args.dump)
        pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)
        return 0
    cpu_of: dict[str, float] = {}
    for name in requests:
        for _ in range(10):
            send(name)
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(args.requests):
            count = send(name)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        cpu_of[name] = cpu / args.requests
        print(
            f"{name:12} wall {wall / args.requests * 1000:6.2f} ms  "
            f"cpu {cpu_of[name] * 1000:6.2f} ms  queries {count:>2}  "
            f"cpu x baseline {cpu_of[name] / cpu_of['baseline']:5.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
