from django.contrib.auth.management import create_permissions
from django.db import migrations

from referrals.access import (
    LEAD_EXTRA_PERMISSIONS,
    QUEUE_GROUPS,
    STAFF_PERMISSIONS,
    TRIAGE_LEAD_GROUP,
)


def create_groups(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def perms(pairs):
        return [
            Permission.objects.get(content_type__app_label=app, codename=codename)
            for app, codename in pairs
        ]

    for name in QUEUE_GROUPS.values():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*perms(STAFF_PERMISSIONS))
    lead, _ = Group.objects.get_or_create(name=TRIAGE_LEAD_GROUP)
    lead.permissions.add(*perms(STAFF_PERMISSIONS + LEAD_EXTRA_PERMISSIONS))


def remove_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name__in=[*QUEUE_GROUPS.values(), TRIAGE_LEAD_GROUP]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("referrals", "0001_initial"),
        ("intake", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
