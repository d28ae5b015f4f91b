"""Every read goes through selectors that show a user only their projects; frozen projects refuse writes."""

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from labbook.projects.models import Membership, ProjectFrozen, Role
from labbook.projects.selectors import projects_for, role_in, visible
from labbook.synthesis.models import Synthesis
from tests.labbook.factories import MembershipFactory, ProjectFactory, SynthesisFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_users_see_only_their_projects_records():
    mine, theirs = ProjectFactory(), ProjectFactory()
    user = UserFactory()
    MembershipFactory(project=mine, user=user, role=Role.VIEWER)
    a = SynthesisFactory(project=mine)
    SynthesisFactory(project=theirs)
    assert list(visible(Synthesis, user)) == [a]
    assert list(projects_for(user)) == [mine]


def test_group_membership_counts_and_roles_rank():
    project = ProjectFactory()
    user = UserFactory()
    group = Group.objects.create(name="blinking team")
    user.groups.add(group)
    Membership.objects.create(project=project, group=group, role=Role.EDITOR)
    assert role_in(user, project) == Role.EDITOR
    assert list(projects_for(user, min_role=Role.EDITOR)) == [project]
    assert not projects_for(user, min_role=Role.ADMIN).exists()
    Membership.objects.create(project=project, user=user, role=Role.ADMIN)
    assert role_in(user, project) == Role.ADMIN


def test_anonymous_and_inactive_users_see_nothing():
    from django.contrib.auth.models import AnonymousUser

    SynthesisFactory()
    assert not visible(Synthesis, AnonymousUser()).exists()
    user = UserFactory(is_active=False)
    MembershipFactory(user=user)
    assert not projects_for(user).exists()


def test_superusers_see_everything():
    SynthesisFactory(), SynthesisFactory()
    assert visible(Synthesis, UserFactory(is_superuser=True)).count() == 2


def test_membership_is_for_a_user_or_a_group():
    from django.core.exceptions import ValidationError

    m = Membership(project=ProjectFactory(), role=Role.VIEWER)
    with pytest.raises(ValidationError, match="a user or for a group"):
        m.full_clean()


def test_a_frozen_project_refuses_saves_and_deletes_below_every_door():
    batch = SynthesisFactory()
    project = batch.project
    project.frozen_at = timezone.now()
    project.save()
    batch.notes = "changed"
    with pytest.raises(ProjectFrozen, match="is frozen"):
        batch.save()
    with pytest.raises(ProjectFrozen):
        batch.delete()
    with pytest.raises(ProjectFrozen):
        SynthesisFactory(project=project)
    assert Synthesis.objects.get(pk=batch.pk).notes == ""


def test_version_increments_on_every_save():
    batch = SynthesisFactory()
    assert batch.version == 1
    batch.notes = "x"
    batch.save()
    batch.refresh_from_db()
    assert batch.version == 2
