"""Referrals made again before Referral.case_claimed_at carry the case's first claim too: the
earliest claim of the chain of referrals each was made again from, as referral_refer_again now
copies it. Only referrals made again are read (by referral_again_from_idx) and written, a few
among 1,000,000+; apart from 0021, so that the table's lock taken to add the column is not
held while they are."""

from django.db import migrations

BATCH = 500


def carry_the_cases_first_claim(apps, schema_editor):
    Referral = apps.get_model("referrals", "Referral")
    referrals = Referral.objects.using(schema_editor.connection.alias)
    came_from = dict(
        referrals.filter(referred_again_from__isnull=False).values_list(
            "pk", "referred_again_from_id"
        )
    )
    ids = sorted(set(came_from) | set(came_from.values()))
    claimed = {}
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        claimed.update(referrals.filter(pk__in=chunk).values_list("pk", "claimed_at"))
    changed = []
    for pk in came_from:
        first, seen, previous = None, {pk}, came_from[pk]
        while previous is not None and previous not in seen:
            seen.add(previous)
            if claimed[previous] is not None:
                first = claimed[previous]  # the earlier, walking back
            previous = came_from.get(previous)
        if first is not None:
            changed.append(Referral(pk=pk, case_claimed_at=first))
    # updated_at is left alone: the API reads nothing of this.
    referrals.bulk_update(changed, ["case_claimed_at"], batch_size=BATCH)


class Migration(migrations.Migration):
    dependencies = [("referrals", "0021_referral_case_claimed_at")]

    operations = [
        migrations.RunPython(carry_the_cases_first_claim, migrations.RunPython.noop),
    ]
