"""API tokens, stored hashed, expiring, and void once their owner's password changes.

Why our own model rather than DRF's ``authtoken`` (plain-text keys that never expire) or
django-rest-knox (hashed and expiring, but its login view wants Basic auth and returns another
shape, and it keeps tokens across a password change): the README's ``POST /api/auth/token/`` ->
``{"token": ...}`` and ``Authorization: Token <key>`` stay as they were, and a token minted under
one password stops working under the next without a signal (see :attr:`ApiToken.password_mark`).

A key is ``<key_id>.<secret>``: ``key_id`` (public, indexed) finds the row, the SHA-256 of the
whole key is compared in constant time. The key itself is shown once, when it is made.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

KEY_ID_BYTES = 6  # 12 hex characters
SECRET_BYTES = 32  # 256 bits: a plain SHA-256 of the key is enough (no password-style stretching)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def password_mark(user) -> str:
    """An HMAC of the user's password hash (as Django's sessions use): changes with the password."""
    return user.get_session_auth_hash()


class ApiTokenQuerySet(models.QuerySet):
    def live(self):
        return self.filter(expires_at__gt=timezone.now())


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    key_id = models.CharField(max_length=2 * KEY_ID_BYTES, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False, help_text="SHA-256 of the key")
    password_mark = models.CharField(
        max_length=128, editable=False, help_text="HMAC of the password hash the token was made under"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"token {self.key_id}… of {self.user}"

    @classmethod
    def mint(cls, user) -> tuple[ApiToken, str]:
        """A new token for ``user``; returns it and its key (the only time the key is known).

        Keeps at most ``settings.API_TOKENS_PER_USER`` live tokens (the oldest go first) and drops
        the user's expired ones.
        """
        key_id = secrets.token_hex(KEY_ID_BYTES)
        key = f"{key_id}.{secrets.token_urlsafe(SECRET_BYTES)}"
        now = timezone.now()
        with transaction.atomic():
            token = cls.objects.create(
                user=user,
                key_id=key_id,
                digest=_digest(key),
                password_mark=password_mark(user),
                created_at=now,
                expires_at=now + dt.timedelta(seconds=settings.API_TOKEN_TTL_S),
            )
            mine = cls.objects.filter(user=user)
            mine.filter(expires_at__lte=now).delete()
            keep = list(
                mine.order_by("-created_at", "-id").values_list("pk", flat=True)[
                    : settings.API_TOKENS_PER_USER
                ]
            )
            mine.exclude(pk__in=keep).delete()
        return token, key

    @classmethod
    def find(cls, key: str) -> ApiToken | None:
        """The live token whose key is ``key``, if its owner is active and kept their password."""
        key_id, _, secret = key.partition(".")
        if not secret or len(key_id) != 2 * KEY_ID_BYTES:
            return None
        token = cls.objects.live().select_related("user").filter(key_id=key_id).first()
        if token is None or not hmac.compare_digest(token.digest, _digest(key)):
            return None
        user = token.user
        if not user.is_active or not hmac.compare_digest(token.password_mark, password_mark(user)):
            return None
        return token
