"""A role is one fact (the lead or PM group); superuser status no longer makes a lead.

Before this, `create_user` and `create_demo_users` made every lead a staff superuser, and `role_of()`
read any superuser as a lead, so demoting a lead on the users page changed nothing. This migration:

1. clears is_superuser and is_staff on every member of the lead or PM group: the create path set
   them together with the group, and a demoted lead (moved to PM) kept them by mistake;
2. if that leaves no lead at all, makes each remaining active superuser (the README's
   `createsuperuser` account, which used to count as a lead implicitly) a member of the lead group,
   so an existing install keeps someone who can configure it. They stay superusers: /admin access is
   theirs by an explicit choice. When there are other leads, such accounts get no role; a lead can
   give them one on the users page (or `manage.py set_role <username> lead`).
"""

from django.db import migrations

LEAD_GROUP = "Product ops lead"
PM_GROUP = "PM"


def forwards(apps, schema_editor):
    User = apps.get_model("auth", "User")
    Group = apps.get_model("auth", "Group")
    lead, _ = Group.objects.get_or_create(name=LEAD_GROUP)
    Group.objects.get_or_create(name=PM_GROUP)
    User.objects.filter(groups__name__in=[LEAD_GROUP, PM_GROUP]).update(is_superuser=False, is_staff=False)
    if User.objects.filter(is_active=True, groups=lead).exists():
        return
    for user in User.objects.filter(is_active=True, is_superuser=True).exclude(groups__name=PM_GROUP):
        user.groups.add(lead)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
