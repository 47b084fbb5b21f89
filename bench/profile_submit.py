"""Per-request time of the write endpoints, in-process (no server, no wrk): where the time goes.

Usage: DATABASE_URL=... python bench/profile_submit.py [--requests 300] [--profile NAME]
       [--sort cumulative] [--top 40] [--instructions]

Run after ``migrate`` (and ``generate_cases`` for a realistic table size), with the server's
environment (DJANGO_ENV=production, DEBUG=false, a SECRET_KEY of 50 random characters,
MAIL_BACKEND=locmem as bench/load.py sets it, BENCH_QUERY_COUNT=1, BENCH_BASELINE=1,
ALLOWED_HOSTS=testserver, API_RATE_LIMIT raised as bench/load.py does).
Creates an API token with every scope, then sends each request through Django's test client
(the whole middleware stack) ``--requests`` times after a warm-up and prints wall and CPU
milliseconds per request, the PostgreSQL backend's CPU per request beside them ("database
cpu", as in bench/profile_lists.py; the commit's wait for the disk is in neither), SQL
statements per request, and each endpoint's CPU against the baseline's. Every submission is
a new patient, as in bench/load.py. ``--profile NAME`` (baseline, api_submit, api_preview)
prints a cProfile of that request instead; ``--instructions`` each request's instructions
under callgrind (bench/inprocess.py: steady where time is not) and their ratio to the
baseline's.
"""

from __future__ import annotations

import itertools
import json
import secrets
import sys
from functools import partial

from inprocess import arguments, instructions, profile, timed


def main() -> int:
    args = arguments(__doc__, requests=300)
    from django.db import connection
    from django.test import Client
    from load import intake_body, preview_body  # bench/load.py: the bodies the load run sends

    from referrals.models import Scope
    from referrals.tokens import api_token_create

    created = api_token_create(name="Profile submit", scopes=Scope.values)
    api = Client(headers={"Authorization": f"Bearer {created.raw}"})
    plain = Client()
    template = intake_body("V01")
    preview = preview_body()  # once: reading the examples file is not the request's work
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
        "api_preview": (api, "/api/v1/triage/preview", lambda: preview),
    }

    def send(name: str) -> int:
        client, url, body = requests[name]
        response = client.post(url, body(), content_type="application/json", secure=True)
        assert response.status_code in (200, 201), (name, response.status_code, response.content)  # noqa: S101
        return int(response.get("X-Query-Count") or -1)

    print(f"{connection.vendor}")
    if args.profile:
        profile(partial(send, args.profile), args)
        return 0
    if args.instructions:
        counts = {name: instructions(partial(send, name), args.requests, 10) for name in requests}
        for name, count in counts.items():
            print(
                f"{name:12} {count:>13,} instructions  queries {send(name):>2}  "
                f"x baseline {count / counts['baseline']:5.1f}"
            )
        return 0
    cpu_of: dict[str, float] = {}
    for name in requests:
        took = timed(partial(send, name), args.requests, 10)
        cpu_of[name] = took.cpu
        count = send(name)  # a request like the timed ones (the warm-up opened the rate window)
        print(
            f"{name:12} wall {took.wall * 1000:6.2f} ms  cpu {took.cpu * 1000:6.2f} ms  "
            f"database cpu {took.database_ms()} ms  queries {count:>2}  "
            f"cpu x baseline {cpu_of[name] / cpu_of['baseline']:5.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
