"""Reroutes made before Referral.rerouted_into name the referral they went on in too: each
referral's rerouted_from, read by referral_rerouted_from_idx (a few among 1,000,000+), is
written on the referral it names. A reroute that joined the patient's open referral of a queue
whose rerouted_from was taken left no link to write: those stay empty (the joined referral's
"New submission linked" event, by the rerouting member of staff, is all that was kept)."""

from django.db import migrations

BATCH = 500


def name_where_stored_reroutes_went(apps, schema_editor):
    Referral = apps.get_model("referrals", "Referral")
    referrals = Referral.objects.using(schema_editor.connection.alias)
    went = dict(
        referrals.filter(rerouted_from__isnull=False)
        .order_by("id")
        .values_list("rerouted_from_id", "pk")
    )
    changed = [Referral(pk=old, rerouted_into_id=new) for old, new in went.items()]
    # updated_at is left alone, as 0015 leaves it: nothing the API lists by it changed.
    referrals.bulk_update(changed, ["rerouted_into"], batch_size=BATCH)


class Migration(migrations.Migration):
    dependencies = [("referrals", "0019_referral_rerouted_into_idx")]

    operations = [
        migrations.RunPython(name_where_stored_reroutes_went, migrations.RunPython.noop),
    ]
