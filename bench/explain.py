"""Query plans of the referral list queries on PostgreSQL, with a generated data set.

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/scale_explain \
       python bench/explain.py [--generate N]

With --generate N the database is migrated and N cases are generated first (skip it to reuse a
data set). Runs EXPLAIN (ANALYZE, BUFFERS) for each list query the staff pages run, writes each
plan to bench/results/plans/<name>.txt (or under --out DIR) and prints one summary line per
plan: time, whether an index scan is used, and whether a Sort node reads the referral table.
The admin queue's statements are the ones the page runs, caught on their way to the database;
as the page prepares them (clinic/prepared.py), their generic plans are checked too (``_generic``),
and the API's first page's.
bench/load.py runs it on each PostgreSQL database it measures.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
OUT = ROOT / "bench" / "results" / "plans"
PAGE = 50


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--generate", type=int, default=0, help="generate N cases first")
    parser.add_argument("--out", default=str(OUT), help=f"where the plans go ({OUT})")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database (e.g. .../scale_explain).")
    if args.generate:
        for command in (
            ["migrate", "--noinput", "-v0"],
            ["generate_cases", "--count", str(args.generate), "--progress"],
        ):
            subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, check=True)

    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.db import connection
    from django.db.models import QuerySet
    from django.utils import timezone

    from clinic.prepared import enabled as prepared_statements
    from referrals import selectors
    from referrals.models import OPEN_STATUSES, Queue, Referral
    from referrals.pagination import encode_cursor, keyset_page

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    now = timezone.now()
    lead = (
        User.objects.filter(groups__name="Triage lead").first()
        or User.objects.filter(is_superuser=True).first()
    )
    clinician = (
        User.objects.filter(assigned_referrals__status__in=OPEN_STATUSES).order_by("?").first()
    )

    def scoped(queue: str) -> QuerySet[Referral]:
        return (
            Referral.objects.filter(queue=queue, status__in=OPEN_STATUSES)
            .select_related("intake", "patient", "assigned_to")
            .order_by("-priority", "due_at", "id")
        )

    queries: dict[str, QuerySet[Referral]] = {}
    for queue in Queue.values:
        queries[f"queue_{queue}_first_page"] = scoped(queue)[:PAGE]
    # Deep keyset page: the cursor sits half-way down the biggest queue.
    big = max(Queue.values, key=lambda q: Referral.objects.filter(queue=q).count())
    total = scoped(big).count()
    cursor_row = scoped(big).values("priority", "due_at", "id")[total // 2]
    # The page after that row as the API's keyset pagination reads it (referrals.pagination).
    queries[f"queue_{big}_deep_keyset"] = keyset_page(scoped(big), encode_cursor(cursor_row), PAGE)
    queries["all_queues_open_first_page"] = (
        Referral.objects.filter(status__in=OPEN_STATUSES)
        .select_related("intake", "patient", "assigned_to")
        .order_by("-priority", "due_at", "id")[:PAGE]
    )
    queries["all_queues_overdue"] = (
        Referral.objects.filter(status__in=OPEN_STATUSES, due_at__lt=now)
        .select_related("intake", "patient", "assigned_to")
        .order_by("-priority", "due_at", "id")[:PAGE]
    )
    queries[f"queue_{big}_overdue"] = scoped(big).filter(due_at__lt=now)[:PAGE]
    if clinician is not None:
        queries["assigned_to_me_open"] = (
            Referral.objects.filter(assigned_to=clinician, status__in=OPEN_STATUSES)
            .select_related("intake", "patient", "assigned_to")
            .order_by("-priority", "due_at", "id")[:PAGE]
        )
    if lead is not None:
        queries["lead_selector_open"] = selectors.referral_list(user=lead).filter(
            status__in=OPEN_STATUSES
        )[:PAGE]
    since = (
        now
        - (now - Referral.objects.order_by("updated_at").values_list("updated_at", flat=True)[0])
        / 100
    )
    queries["updated_since"] = Referral.objects.filter(updated_at__gte=since).order_by(
        "updated_at", "id"
    )[:PAGE]

    # The pages bench/load.py times, built by the code that serves them: the API list as an
    # integration token with every queue sees it (first page and a cursor half-way down), and
    # the admin queue of a clinician in the biggest queue: the capped count and the page's rows,
    # the very statements the queue page runs (referrals/admin_queue_page.py).
    from referrals.api import LIST_ITEM_COLUMNS
    from referrals.tokens import api_token_authenticate, api_token_create

    created = api_token_create(name="explain", scopes=["referrals:read"])
    service_user = api_token_authenticate(created.raw).user  # type: ignore[union-attr]
    # As ReferralListView reads it: each row's red_flag_elsewhere in the page's statement.
    api_list = selectors.with_red_flag_elsewhere(selectors.referral_list(user=service_user))
    queries["api_first_page"] = keyset_page(api_list, None, PAGE + 1, LIST_ITEM_COLUMNS)
    middle = encode_cursor(api_list[api_list.count() // 2])
    queries["api_deep_page"] = keyset_page(api_list, middle, PAGE + 1, LIST_ITEM_COLUMNS)
    count, page = f"admin_queue_{big}_capped_count", f"admin_queue_{big}_page"
    planned: dict[str, tuple[str, Any]] = {
        name: queryset.query.sql_with_params() for name, queryset in queries.items()
    }
    planned[count], planned[page] = _queue_page_statements(big)

    out.mkdir(parents=True, exist_ok=True)
    print(f"{Referral.objects.count():,} referrals; plans in {out}/")
    failures = 0
    explained = {name: explain(sql, params) for name, (sql, params) in planned.items()}
    # The queue page's two statements and the API's first page are prepared (clinic.prepared):
    # after five runs on a connection PostgreSQL may keep one generic plan, made without the
    # parameters' values.
    if prepared_statements(connection.alias):
        for name in (count, page, "api_first_page"):
            explained[f"{name}_generic"] = explain_generic(*planned[name])
    for name, plan in explained.items():
        sql, params = planned[name.removesuffix("_generic")]
        shown = sql % tuple(map(repr, params)) if params else sql
        (out / f"{name}.txt").write_text(f"-- {name}\n{shown}\n\n{plan}\n")
        index = bool(re.search(r"Index (Only )?Scan", plan))
        seq_on_referrals = bool(re.search(r"Seq Scan on referrals_referral", plan))
        big_sort = _sorts_referrals(plan)
        ok = index and not seq_on_referrals and not big_sort
        failures += not ok
        took = re.search(r"Execution Time: ([\d.]+) ms", plan)
        print(
            f"{'ok  ' if ok else 'BAD '} {name:42} {took.group(1) if took else '?':>9} ms  "
            f"index={'yes' if index else 'NO'} "
            f"seq_scan_referrals={'YES' if seq_on_referrals else 'no'} "
            f"sort_on_big_table={'YES' if big_sort else 'no'}"
        )
        custom = explained.get(name.removesuffix("_generic"))
        if not ok and name.endswith("_generic") and custom is not None:
            with connection.cursor() as cursor:
                cursor.execute("SHOW cpu_operator_cost")
                (operator_cost,) = cursor.fetchone()
            print("     " + generic_against_custom(plan, custom, sql, float(operator_cost)))
    return 1 if failures else 0


def generic_against_custom(generic: str, custom: str, sql: str, operator_cost: float) -> str:
    """Whether PostgreSQL would run a generic plan at all: after five custom plans it keeps
    the generic one only if its estimated cost is below the custom plans' average plus their
    planning charge, 1000 x cpu_operator_cost for each range-table entry (a table or a join)
    and one more (plancache.c, choose_custom_plan and cached_plan_cost). The custom plan here
    is for this run's values only; other values' costs differ."""

    def cost(plan: str) -> float:
        found = re.search(r"cost=[\d.]+\.\.([\d.]+)", plan)
        return float(found.group(1)) if found else float("nan")

    tables = len(re.findall(r'(?:FROM|JOIN) "\w+"', sql))
    joins = len(re.findall(r'JOIN "\w+"', sql))
    charge = 1000 * operator_cost * (tables + joins + 1)
    kept = cost(generic) < cost(custom) + charge
    return (
        f"generic cost {cost(generic):.1f} against {cost(custom):.1f} for these values' custom "
        f"plan + {charge:.1f} for planning it: PostgreSQL "
        + ("would keep the generic plan" if kept else "would go on planning per run here")
    )


def _queue_page_statements(queue: str) -> tuple[tuple[str, Any], tuple[str, Any]]:
    """The capped count and the page statement the admin queue page runs for a clinician
    whose only queue is ``queue``, as (sql, params), caught on their way to the database."""
    from django.contrib import admin
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.test import RequestFactory

    from clinic.compiled import statements_sent
    from referrals.access import QUEUE_GROUPS
    from referrals.admin_queue_page import queue_changelist_view
    from referrals.models import Referral

    user, _ = User.objects.get_or_create(username="explain-clinician", is_staff=True)
    user.groups.set([Group.objects.get(name=QUEUE_GROUPS[queue])])
    user = User.objects.get(pk=user.pk)  # no cached groups
    request = RequestFactory().get("/admin/referrals/referral/")
    request.user = user
    model_admin = admin.site.get_model_admin(Referral)
    with statements_sent(connection.alias) as sent:
        queue_changelist_view(model_admin, request, {})
    seen = [(sql, params) for sql, params in sent if '"referrals_referral"' in sql]
    (count,) = [(sql, params) for sql, params in seen if sql.startswith("SELECT COUNT(*)")]
    (page,) = [(sql, params) for sql, params in seen if "ORDER BY" in sql]
    return count, page


def explain(sql: str, params: Any) -> str:
    """The statement's plan as PostgreSQL makes it for these values, run (ANALYZE)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def explain_generic(sql: str, params: Any) -> str:
    """The plan PostgreSQL keeps for the statement prepared as clinic.prepared prepares it,
    made without the parameters' values (plan_cache_mode force_generic_plan), run with them."""
    from django.db import connection

    from clinic.prepared import preparing

    # A session of its own: the statement below is the only one prepared in it, and the
    # setting ends with it.
    connection.close()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET plan_cache_mode = force_generic_plan")
            with preparing(connection.alias), connection.cursor() as prepared:
                prepared.execute(sql, params)
            cursor.execute("SELECT name FROM pg_prepared_statements")
            ((name,),) = cursor.fetchall()
            values = ", ".join(["%s"] * len(params))
            cursor.execute(
                f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE {name}({values})"
                if params
                else f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE {name}",
                params,
            )
            return "\n".join(row[0] for row in cursor.fetchall())
    finally:
        connection.close()


def _sorts_referrals(plan: str) -> bool:
    """A Sort whose input rows exceed two pages (a sort of a few union rows is fine)."""
    # A Sort's own row count is its output; the size of what it sorted is its child's.
    lines = plan.splitlines()
    for index, line in enumerate(lines):
        if re.search(r"->\s+Sort|^\s*Sort", line):
            child = next((lines[j] for j in range(index + 1, len(lines)) if "->" in lines[j]), "")
            rows = re.search(r"actual time=[\d.]+\.\.[\d.]+ rows=(\d+)", child)
            if rows and int(rows.group(1)) > 2 * PAGE:
                return True
    return False


if __name__ == "__main__":
    sys.exit(main())
