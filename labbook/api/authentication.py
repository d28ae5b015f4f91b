"""Logging in: API tokens (hashed, expiring; see :mod:`labbook.api.models`) and a lockout after
repeated failed passwords for every login door (admin, pages, the token endpoint).

Why a small cache-based limiter rather than django-axes: axes' backend refuses ``authenticate()``
calls without a request (Django's test client and ``manage.py`` code make those) and adds its own
tables and middleware; what we need is a counter per user name, which the cache gives in a few
lines. The cache is Django's default one: with several server processes, configure a shared cache
(``CACHES``) so they count together.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from rest_framework import authentication, exceptions

from labbook.api.models import ApiToken


class TokenAuthentication(authentication.TokenAuthentication):
    """``Authorization: Token <key>`` with our hashed, expiring tokens."""

    keyword = "Token"

    def authenticate_credentials(self, key):
        token = ApiToken.find(key)
        if token is None:
            raise exceptions.AuthenticationFailed("invalid, expired or revoked token")
        return token.user, token


def _failures_key(username: str) -> str:
    # hashed: the cache key must not depend on what characters an attacker puts in a user name
    digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()
    return f"login-failures:{digest}"


def login_locked(username: str) -> bool:
    return cache.get(_failures_key(username), 0) >= settings.LOGIN_FAILURE_LIMIT


class LockoutModelBackend(ModelBackend):
    """Django's ModelBackend, refusing a user name (existing or not) for ``LOGIN_LOCKOUT_S`` seconds
    after ``LOGIN_FAILURE_LIMIT`` failed passwords in a row. A locked-out attempt costs the same
    password hashing and gets the same answer as a wrong password, so neither the lockout nor the
    answer tells whether a user exists (ModelBackend already hashes for unknown users)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        key = _failures_key(str(username))
        if cache.get(key, 0) >= settings.LOGIN_FAILURE_LIMIT:
            get_user_model()().set_password(password)  # the same work as a real check
            return None
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            try:
                cache.incr(key)
                # locked for the whole period after the last failure
                cache.touch(key, settings.LOGIN_LOCKOUT_S)
            except ValueError:
                cache.add(key, 1, timeout=settings.LOGIN_LOCKOUT_S)
        else:
            cache.delete(key)
        return user
