"""Reroutes made before Referral.rerouted_into name the referral they went on in too.

First, each referral's rerouted_from, read by referral_rerouted_from_idx (a few among
1,000,000+), is written on the referral it names. Then a reroute that joined the patient's open
referral of a queue whose rerouted_from was taken, which left no link, is found by what it did
write: the closed referral's history says where it went (its move to "rerouted", ``{"to":
queue}``), and the joined referral's history has the join, "New submission linked", by the same
member of staff, naming the rerouted case, in the same moment. Such a joined referral still open
is given the earlier due time and waiting start, as a reroute gives them now (the case must not
wait longer for having joined it). updated_at is left alone, as 0015 leaves it."""

import datetime as dt

from django.db import migrations
from django.db.models.functions import Coalesce

BATCH = 500
OPEN = ("new", "claimed", "contacted", "scheduled")
# The reroute's move and the join are written in one transaction, a few milliseconds apart.
SAME_MOMENT = dt.timedelta(minutes=1)


def name_where_stored_reroutes_went(apps, schema_editor):
    Referral = apps.get_model("referrals", "Referral")
    referrals = Referral.objects.using(schema_editor.connection.alias)
    went = dict(
        referrals.filter(rerouted_from__isnull=False)
        .order_by("id")
        .values_list("rerouted_from_id", "pk")
    )
    changed = [Referral(pk=old, rerouted_into_id=new) for old, new in went.items()]
    referrals.bulk_update(changed, ["rerouted_into"], batch_size=BATCH)


def name_where_stored_joins_went(apps, schema_editor):
    alias = schema_editor.connection.alias
    Referral = apps.get_model("referrals", "Referral")
    Event = apps.get_model("referrals", "ReferralEvent")
    referrals = Referral.objects.using(alias)
    events = Event.objects.using(alias)
    unlinked = (
        referrals.filter(status="rerouted", rerouted_into__isnull=True)
        .select_related("intake")
        .order_by("id")
    )
    linked: list = []
    carried: dict[int, tuple[dt.datetime, dt.datetime]] = {}
    for old in unlinked.iterator(chunk_size=BATCH):
        move = (
            events.filter(referral_id=old.pk, kind="transition", to_status="rerouted")
            .order_by("-id")
            .first()
        )
        queue = move.data.get("to") if move is not None and isinstance(move.data, dict) else None
        if not queue:
            continue
        candidates = referrals.filter(patient_id=old.patient_id, queue=queue).exclude(pk=old.pk)
        joined = (
            events.filter(
                referral_id__in=candidates.values("pk"),
                kind="linked",
                actor_id=move.actor_id,
                data__intake=old.intake.reference,
                created_at__range=(move.created_at - SAME_MOMENT, move.created_at + SAME_MOMENT),
            )
            .order_by("created_at", "id")
            .values_list("referral_id", flat=True)
            .first()
        )
        if joined is None:
            continue
        linked.append(Referral(pk=old.pk, rerouted_into_id=joined))
        due, since = carried.get(joined, (old.due_at, old.waiting_since or old.created_at))
        carried[joined] = (min(due, old.due_at), min(since, old.waiting_since or old.created_at))
    referrals.bulk_update(linked, ["rerouted_into"], batch_size=BATCH)
    for joined in referrals.filter(pk__in=list(carried), status__in=OPEN).annotate(
        waits=Coalesce("waiting_since", "created_at")
    ):
        due, since = carried[joined.pk]
        referrals.filter(pk=joined.pk).update(
            due_at=min(joined.due_at, due), waiting_since=min(joined.waits, since)
        )


class Migration(migrations.Migration):
    dependencies = [("referrals", "0019_referral_rerouted_into_idx")]

    operations = [
        migrations.RunPython(name_where_stored_reroutes_went, migrations.RunPython.noop),
        migrations.RunPython(name_where_stored_joins_went, migrations.RunPython.noop),
    ]
