import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinic.auth_backends import StaffModelBackend

pytestmark = pytest.mark.django_db


def permission(codename):
    return Permission.objects.get(codename=codename)


@pytest.fixture
def clerk():
    """Own permissions, and more from two groups (one shared), a group name with a comma."""
    user = User.objects.create_user("clerk", password="x", is_staff=True)
    user.user_permissions.add(permission("view_referral"), permission("view_intake"))
    first = Group.objects.create(name="Podiatry, north")
    first.permissions.add(permission("change_referral"), permission("view_intake"))
    second = Group.objects.create(name="Orthotics")
    second.permissions.add(permission("change_referral"))
    user.groups.add(first, second)
    return user


def test_the_user_comes_with_modelbackends_permissions_in_one_query(clerk):
    with CaptureQueriesContext(connection) as ctx:
        user = StaffModelBackend().get_user(clerk.pk)
        assert user.has_perm("referrals.change_referral")
        assert not user.has_perm("referrals.delete_referral")
        permissions = StaffModelBackend().get_all_permissions(user)
        own = StaffModelBackend().get_user_permissions(user)
        inherited = StaffModelBackend().get_group_permissions(user)
    assert len(ctx.captured_queries) == 1
    fresh = User.objects.get(pk=clerk.pk)
    assert permissions == ModelBackend().get_all_permissions(fresh)
    assert own == ModelBackend().get_user_permissions(fresh)
    assert inherited == ModelBackend().get_group_permissions(fresh)
    assert user._clinic_group_names == {"Podiatry, north", "Orthotics"}


def test_a_user_without_permissions_or_groups_has_none():
    User.objects.create_user("bare", password="x", is_staff=True)
    user = StaffModelBackend().get_user(User.objects.get(username="bare").pk)
    assert StaffModelBackend().get_all_permissions(user) == set()
    assert user._clinic_group_names == set()


def test_an_inactive_or_missing_user_is_no_user(clerk):
    clerk.is_active = False
    clerk.save()
    assert StaffModelBackend().get_user(clerk.pk) is None
    assert StaffModelBackend().get_user(clerk.pk + 1000) is None


def test_a_superuser_has_every_permission_as_with_modelbackend():
    admin = User.objects.create_superuser("root", password="x")
    user = StaffModelBackend().get_user(admin.pk)
    assert StaffModelBackend().get_all_permissions(user) == ModelBackend().get_all_permissions(
        User.objects.get(pk=admin.pk)
    )
    assert user.has_perm("referrals.delete_referral")


def test_an_id_that_is_no_number_is_no_user():
    assert StaffModelBackend().get_user("not-a-number") is None
