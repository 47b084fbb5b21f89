"""Reroutes made before Referral.waiting_since wait from the case's first queue too: each
rerouted referral's waiting_since is the earliest created_at of its chain of reroutes, as
referrals.services._waiting_since counted it. Only rerouted referrals are read (by
referral_rerouted_from_idx) and written, a few among 1,000,000+; apart from 0014, so that
the table's lock taken to add the column is not held while they are."""

from django.db import migrations

BATCH = 500


def count_reroutes_from_their_first_queue(apps, schema_editor):
    Referral = apps.get_model("referrals", "Referral")
    referrals = Referral.objects.using(schema_editor.connection.alias)
    came_from = dict(
        referrals.filter(rerouted_from__isnull=False).values_list("pk", "rerouted_from_id")
    )
    ids = sorted(set(came_from) | set(came_from.values()))
    created = {}
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        created.update(referrals.filter(pk__in=chunk).values_list("pk", "created_at"))
    changed = []
    for pk in came_from:
        since, seen, previous = created[pk], {pk}, came_from[pk]
        while previous is not None and previous not in seen:
            seen.add(previous)
            since = min(since, created[previous])
            previous = came_from.get(previous)
        changed.append(Referral(pk=pk, waiting_since=since))
    # updated_at is left alone: nothing the API or the dashboard reads by it changed.
    referrals.bulk_update(changed, ["waiting_since"], batch_size=BATCH)


class Migration(migrations.Migration):
    dependencies = [("referrals", "0014_referral_waiting_since")]

    operations = [
        migrations.RunPython(count_reroutes_from_their_first_queue, migrations.RunPython.noop),
    ]
