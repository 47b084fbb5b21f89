"""Per-request time of the list pages, in-process (no server, no wrk): where the time goes.

Usage: DATABASE_URL=... python bench/profile_lists.py [--requests 200] [--profile NAME]
       [--sort cumulative] [--top 40] [--instructions]

Run after ``migrate`` and ``generate_cases``, with the server's environment (DJANGO_ENV=production,
DEBUG=false, a SECRET_KEY of 50 random characters, MAIL_BACKEND=locmem as bench/load.py sets
it, BENCH_QUERY_COUNT=1, static files collected) and
ALLOWED_HOSTS=testserver: the test environment's template
instrumentation would add its own cost. Creates an API token (every scope) and a
clinician in the chiropractic queue, as bench/load_setup.py does, then sends each list request
through Django's test client (the whole middleware stack) ``--requests`` times after a warm-up
and prints wall and CPU milliseconds per request and SQL statements per request. CPU time is
this process only: on SQLite it includes the queries; on PostgreSQL the server's share is
printed beside it ("database cpu": the CPU its backend process used, read from /proc when the
server runs on this machine). ``--profile NAME`` (api_first, api_deep, admin_queue,
admin_case) prints a cProfile of that request instead; ``--instructions`` each request's
instructions under callgrind (bench/inprocess.py: steady where time is not).
"""

from __future__ import annotations

import sys
from functools import partial

from inprocess import arguments, instructions, profile, timed


def main() -> int:
    args = arguments(__doc__, requests=200)
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.test import Client

    from referrals import selectors
    from referrals.access import QUEUE_GROUPS
    from referrals.models import Queue, Referral, Scope
    from referrals.pagination import encode_cursor
    from referrals.tokens import api_token_authenticate, api_token_create

    created = api_token_create(name="Profile bench", scopes=Scope.values)
    service_user = api_token_authenticate(created.raw).user  # type: ignore[union-attr]
    staff, _ = User.objects.get_or_create(username="profile-clinician", defaults={"is_staff": True})
    staff.groups.add(Group.objects.get(name=QUEUE_GROUPS[Queue.CHIROPRACTIC]))
    listed = selectors.referral_list(user=service_user)
    total = listed.count()
    deep = encode_cursor(listed[total // 2])
    case = Referral.objects.filter(queue=Queue.CHIROPRACTIC).order_by("-id").first()
    assert case is not None  # noqa: S101 - a bench script on a generated database

    api = Client(headers={"Authorization": f"Bearer {created.raw}"})
    admin = Client()
    admin.force_login(staff)
    requests = {
        "api_first": (api, "/api/v1/referrals", {}),
        "api_deep": (api, "/api/v1/referrals", {"cursor": deep}),
        "admin_queue": (admin, "/admin/referrals/referral/", {}),
        "admin_case": (admin, f"/admin/referrals/referral/{case.public_id}/change/", {}),
    }
    print(f"{total:,} referrals visible to the token; {connection.vendor}")
    if args.profile:
        client, url, params = requests[args.profile]
        profile(partial(client.get, url, params, secure=True), args)
        return 0
    for name, (client, url, params) in requests.items():
        response = client.get(url, params, secure=True)
        assert response.status_code == 200, (name, response.status_code)  # noqa: S101
        send = partial(client.get, url, params, secure=True)
        count = response.get("X-Query-Count", "?")
        if args.instructions:
            print(
                f"{name:12} {instructions(send, args.requests, 5):>13,} instructions  "
                f"queries {count:>2}  {len(response.content):,} bytes"
            )
            continue
        took = timed(send, args.requests, 5)
        print(
            f"{name:12} wall {took.wall * 1000:6.2f} ms  cpu {took.cpu * 1000:6.2f} ms  "
            f"database cpu {took.database_ms()} ms  queries {count:>2}  "
            f"{len(response.content):,} bytes"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
