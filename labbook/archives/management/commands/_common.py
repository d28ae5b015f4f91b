"""Shared bits of the archive commands: the acting user, and bad input as exit code 2."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import CommandError

from labbook.projects.permissions import RecordNotFound


def acting_user(username: str | None):
    """The user a command acts as: ``--user NAME``, else the only superuser."""
    User = get_user_model()
    if username:
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"no active user {username!r}", returncode=2)
        return user
    supers = list(User.objects.filter(is_superuser=True, is_active=True)[:2])
    if len(supers) != 1:
        raise CommandError("say which user acts: --user NAME", returncode=2)
    return supers[0]


def refused(exc: Exception) -> CommandError:
    """A one-line CommandError (exit code 2) for a refusal."""
    if isinstance(exc, ValidationError):
        text = "; ".join(exc.messages)
    elif isinstance(exc, RecordNotFound):
        text = "no such project for this user"
    elif isinstance(exc, PermissionDenied):
        text = str(exc) or "permission denied"
    else:
        text = str(exc)
    return CommandError(" ".join(text.split()), returncode=2)
