"""The dashboard's foot-and-back counts (referrals.dashboard.linked_since) count a case once in a
queue: not the referral made again from one closed by mistake, nor one entered in error. Their
index holds what that reads (referred_again_from, status), so the counts and the lists their
numbers link to are still read from it alone. Built again, as its key changes: the new one
first, beside the old, as 0008 builds its index (the build locks the table against writes, not
reads), then the old one dropped and the new one named as it was (PostgreSQL: a drop locks the
table against reads too, held to the commit, so a drop first held every read of the referrals
for the whole build; a review found it). The counts kept for closed days (LinkDay, derived
data) held those referrals: they are dropped, to be counted again by the next load."""

from django.db import migrations, models


def forget_the_kept_counts(apps, schema_editor):
    LinkDay = apps.get_model("referrals", "LinkDay")
    LinkDay.objects.using(schema_editor.connection.alias).all().delete()


class Migration(migrations.Migration):
    dependencies = [("referrals", "0023_claimed_index_waits_and_cases")]

    operations = [
        migrations.AddIndex(
            model_name="referral",
            index=models.Index(
                condition=models.Q(
                    (
                        "link_kind__in",
                        ["back_to_foot", "both", "foot_to_back", "separate"],
                    )
                ),
                fields=["created_at", "queue", "link_kind", "referred_again_from", "status"],
                name="referral_link_new_idx",
            ),
        ),
        # Then the old one goes and the new takes its name: the table is locked against
        # reads only for these two quick statements, not for the build.
        migrations.RemoveIndex(model_name="referral", name="referral_link_idx"),
        migrations.RenameIndex(
            model_name="referral", new_name="referral_link_idx", old_name="referral_link_new_idx"
        ),
        migrations.RunPython(forget_the_kept_counts, migrations.RunPython.noop),
    ]
