"""Soak: SOAK_SECONDS (default 60) of concurrent load against gunicorn on PostgreSQL.

API submissions (some retried with the same Idempotency-Key, at once), patient form walks, and
integration tokens claiming the same new referrals at the same moment. Afterwards: no 5xx, every
accepted submission stored exactly once with its referrals, and no referral claimed twice.
The counts are printed for docs/RELIABILITY.md.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.live import (
    Gunicorn,
    Reply,
    api_body,
    api_submit,
    cluster,
    form_submit,
    make_token,
    migrate,
    random_patient,
    request,
    service_env,
)

pytestmark = pytest.mark.soak

SECONDS = float(os.environ.get("SOAK_SECONDS", "60"))
API_THREADS, FORM_THREADS, CLAIMERS = 4, 2, 3


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: Counter[tuple[str, int]] = Counter()
        self.accepted: set[str] = set()  # intake ids the API answered 201 for
        self.forms_done = 0
        self.keyed: dict[str, set[str]] = {}  # Idempotency-Key -> intake ids answered
        self.replayed = 0
        self.claims: Counter[str] = Counter()  # referral id -> successful claims
        self.contested = 0
        self.failures: list[str] = []

    def count(self, kind: str, reply: Reply) -> None:
        with self.lock:
            self.statuses[(kind, reply.status)] += 1
            if reply.status >= 500 or reply.status == 0:
                self.failures.append(f"{kind} {reply.status} {reply.body[:300]!r}")


def api_loop(base: str, token: str, tally: Tally, until: float) -> None:
    while time.monotonic() < until:
        body = api_body(random_patient(), secrets.choice(["V01", "V11", "V22", "V06"]))
        if secrets.randbelow(3) == 0:
            key = secrets.token_hex(12)
            # A client retrying at once: both requests in flight together.
            with ThreadPoolExecutor(2) as pool:
                futures = [pool.submit(api_submit, base, token, body, key) for _ in range(2)]
                replies = [future.result() for future in futures]
            for reply in replies:
                tally.count("api", reply)
            ids = {r.json()["id"] for r in replies if r.status == 201}
            with tally.lock:
                tally.keyed[key] = ids
                tally.accepted |= ids
                tally.replayed += sum(
                    r.headers.get("Idempotent-Replayed") == "true" for r in replies
                )
        else:
            reply = api_submit(base, token, body)
            tally.count("api", reply)
            if reply.status == 201:
                with tally.lock:
                    tally.accepted.add(reply.json()["id"])


def form_loop(base: str, tally: Tally, until: float) -> None:
    while time.monotonic() < until:
        replies = form_submit(base, random_patient())
        for reply in replies:
            tally.count("form", reply)
        if replies[-1].status == 302 and replies[-1].headers.get("Location") == "/form/done/":
            with tally.lock:
                tally.forms_done += 1


def claim_loop(base: str, tokens: list[str], tally: Tally, until: float) -> None:
    """Every claimer token claims the same new referral at the same moment."""
    while time.monotonic() < until:
        status, page = request(
            "GET",
            f"{base}/api/v1/referrals?status=new",
            headers={"Authorization": f"Bearer {tokens[0]}"},
        )
        tally.count("list", page)
        if status != 200:
            time.sleep(0.2)
            continue
        for referral in page.json()["results"][:5]:
            url = f"{base}/api/v1/referrals/{referral['id']}/claim"
            barrier = threading.Barrier(len(tokens))

            def claim(token: str, url: str = url, barrier: threading.Barrier = barrier) -> Reply:
                barrier.wait()
                return request(
                    "POST",
                    url,
                    body=b"{}",
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Type": "application/json",
                    },
                )[1]

            with ThreadPoolExecutor(len(tokens)) as pool:
                replies = list(pool.map(claim, tokens))
            for reply in replies:
                tally.count("claim", reply)
            with tally.lock:
                tally.claims[referral["id"]] += sum(r.status == 200 for r in replies)
                tally.contested += 1


def test_soak_concurrent_submissions_retries_and_claims():
    with cluster("soak") as db:
        env = service_env(db)
        migrate(env)
        submitter = make_token(env, "Soak submitter")
        claimers = [make_token(env, f"Soak claimer {n}") for n in range(CLAIMERS)]
        server = Gunicorn(env, workers=2, threads=4)
        tally = Tally()
        until = time.monotonic() + SECONDS
        threads = [
            *(
                threading.Thread(target=api_loop, args=(server.base, submitter, tally, until))
                for _ in range(API_THREADS)
            ),
            *(
                threading.Thread(target=form_loop, args=(server.base, tally, until))
                for _ in range(FORM_THREADS)
            ),
            threading.Thread(target=claim_loop, args=(server.base, claimers, tally, until)),
        ]
        started = time.monotonic()
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            server.stop()
        elapsed = time.monotonic() - started

        intakes = int(db.query("SELECT count(*) FROM intake_intake"))
        by_source = dict(
            line.split("|")
            for line in db.query(
                "SELECT source, count(*) FROM intake_intake GROUP BY source"
            ).splitlines()
        )
        orphans = int(
            db.query(
                "SELECT count(*) FROM intake_intake i WHERE NOT EXISTS "
                "(SELECT 1 FROM referrals_referralintake ri WHERE ri.intake_id = i.id)"
            )
        )
        stored_api_ids = set(
            db.query("SELECT public_id FROM intake_intake WHERE source = 'api'").splitlines()
        )
        claimed_twice = int(
            db.query(
                "SELECT count(*) FROM (SELECT referral_id FROM referrals_referralevent "
                "WHERE to_status = 'claimed' GROUP BY referral_id HAVING count(*) > 1) t"
            )
        )
        claimed_events = int(
            db.query("SELECT count(*) FROM referrals_referralevent WHERE to_status = 'claimed'")
        )

    total = sum(tally.statuses.values())
    print(
        f"\nsoak: {elapsed:.0f} s, {total} requests ({total / elapsed:.0f}/s), "
        f"statuses {dict(sorted(tally.statuses.items()))}"
    )
    print(
        f"API accepted {len(tally.accepted)} (idempotent pairs {len(tally.keyed)}, "
        f"replayed {tally.replayed}); forms completed {tally.forms_done}; "
        f"intakes stored {intakes} {by_source}; without referrals {orphans}"
    )
    print(
        f"referrals contested {tally.contested} by {CLAIMERS} tokens at once; "
        f"claimed events {claimed_events}; claimed twice {claimed_twice}"
    )
    assert not tally.failures, tally.failures[:5]
    assert len(tally.accepted) > 0
    assert tally.forms_done > 0
    assert tally.contested > 0
    # Each accepted submission stored exactly once; both answers to a retried key agree.
    assert all(len(ids) == 1 for ids in tally.keyed.values())
    assert stored_api_ids == tally.accepted
    assert int(by_source.get("form", 0)) == tally.forms_done
    assert intakes == len(tally.accepted) + tally.forms_done
    assert orphans == 0
    # Exactly one of the simultaneous claims wins; the others get 409.
    assert set(tally.claims.values()) == {1}
    assert claimed_twice == 0
    assert claimed_events == len(tally.claims)
