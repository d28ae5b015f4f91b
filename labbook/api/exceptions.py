"""Domain errors -> HTTP: what the models and services raise becomes a 4xx with a clear message.

ValidationError -> 400 (by field); ProjectFrozen -> 403; a role too low -> 403; not a member -> 404;
a lost update (ConflictError) -> 409 with what changed; deleting a record still referenced -> 409.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import ProtectedError, RestrictedError
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from labbook.projects.models import ConflictError, ProjectFrozen
from labbook.projects.permissions import RecordNotFound, RoleRequired


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "the upload is larger than the limit"
    default_code = "too_large"


def exception_handler(exc, context):
    if isinstance(exc, ProjectFrozen):
        exc = exceptions.PermissionDenied(" ".join(exc.messages), code="frozen")
    elif isinstance(exc, RecordNotFound):
        exc = exceptions.NotFound()
    elif isinstance(exc, RoleRequired):
        exc = exceptions.PermissionDenied(str(exc), code="role")
    elif isinstance(exc, ConflictError):
        return Response(
            {
                "detail": str(exc),
                "expected_version": exc.expected_version,
                "current_version": exc.current_version,
                "changes": {k: {"then": v[0], "now": v[1]} for k, v in exc.changes.items()},
            },
            status=status.HTTP_409_CONFLICT,
        )
    elif isinstance(exc, (ProtectedError, RestrictedError)):
        users = sorted(
            {
                str(o)
                for o in list(
                    exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
                )[:5]
            }
        )
        return Response(
            {"detail": f"cannot delete: still used by {', '.join(users)}; delete or change those first"},
            status=status.HTTP_409_CONFLICT,
        )
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(serializers.as_serializer_error(exc))
    elif isinstance(exc, IntegrityError):
        return Response({"detail": f"conflicts with a stored record: {exc}"}, status=status.HTTP_409_CONFLICT)
    return drf_exception_handler(exc, context)
