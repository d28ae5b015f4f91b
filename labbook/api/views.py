"""Project-level API views: tokens, the treatment comparison, the API root's schema and docs."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from labbook.api.models import ApiToken
from labbook.api.serializers import StrictFieldsMixin
from labbook.projects.selectors import visible
from labbook.results.filters import ParticleFilterSet
from labbook.results.models import Particle
from labbook.results.selectors import GROUPS, treatment_comparison


# --- tokens ---------------------------------------------------------------------------------
class TokenSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "key_id", "user", "username", "created_at", "expires_at"]
        read_only_fields = fields


class TokenCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    """Nothing to give: a token is always made for the user asking (``user`` is refused)."""


class NewTokenSerializer(TokenSerializer):
    key = serializers.CharField(read_only=True, help_text="shown once: keep it secret")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "key"]


def _new_token_data(user) -> dict:
    token, key = ApiToken.mint(user)
    return {**NewTokenSerializer(token).data, "key": key}


class TokenViewSet(mixins.ListModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Your API tokens: list them, make one (its key is shown once), revoke one (by id).

    Nobody makes tokens for someone else. Superusers also see and may revoke everyone's tokens
    (to cut off a leaked key); staff status alone gives nothing here. Tokens expire after
    ``API_TOKEN_TTL_S`` and stop working when their owner's password changes."""

    queryset = ApiToken.objects.none()  # for the schema; see get_queryset
    serializer_class = TokenSerializer
    filterset_fields = ["user"]
    ordering_fields = ["created_at", "expires_at"]

    def get_queryset(self):
        qs = ApiToken.objects.live().select_related("user").order_by("-created_at", "-id")
        user = self.request.user
        if getattr(self, "swagger_fake_view", False) or not user.is_authenticated:
            return qs.none()
        return qs if user.is_superuser else qs.filter(user=user)

    @extend_schema(request=TokenCreateSerializer, responses={201: NewTokenSerializer})
    def create(self, request):
        TokenCreateSerializer(data=request.data).is_valid(raise_exception=True)
        return Response(_new_token_data(request.user), status=status.HTTP_201_CREATED)


class ObtainTokenView(APIView):
    """Exchange a user name and password for a new API token (``{"token": key, "expires_at": ...}``).

    Throttled per client address (``API_LOGIN_RATE``); a user name is locked out after repeated
    wrong passwords (:class:`labbook.api.authentication.LockoutModelBackend`). Unknown user, wrong
    password and locked out all get the same answer."""

    authentication_classes = []
    permission_classes = []
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

    @extend_schema(
        request=inline_serializer(
            "TokenRequest", {"username": serializers.CharField(), "password": serializers.CharField()}
        ),
        responses=inline_serializer(
            "TokenResponse", {"token": serializers.CharField(), "expires_at": serializers.DateTimeField()}
        ),
    )
    def post(self, request, *args, **kwargs):
        credentials = AuthTokenSerializer(data=request.data, context={"request": request})
        credentials.is_valid(raise_exception=True)
        data = _new_token_data(credentials.validated_data["user"])
        return Response({"token": data["key"], "expires_at": data["expires_at"]})


# --- comparisons ------------------------------------------------------------------------------
def _ids(raw: str, name: str) -> list[int]:
    try:
        ids = [int(x) for x in raw.split(",") if x.strip()]
    except ValueError:
        raise ValidationError({name: [f"{raw!r}: give comma-separated ids, e.g. 1,2"]}) from None
    if not ids or any(i < 1 or i > 2**63 - 1 for i in ids):
        raise ValidationError({name: [f"{raw!r}: give comma-separated ids, e.g. 1,2"]})
    return ids


class ComparisonView(APIView):
    """Results grouped by treatment (or by any batch/treatment field; see ``group_by``): per group,
    particle counts, mean/median/95 % CI of alpha_on, alpha_off, mean ON/OFF times, fraction ON,
    mean correlation and edge length; class shares; per-movie population fits; TRPL average
    lifetimes; device photocurrent and response times.

    Every particle filter of ``/api/results/particles/`` narrows the particle statistics
    (e.g. ``?edge__lt=1 um``)."""

    @extend_schema(
        parameters=[
            OpenApiParameter("group_by", str, enum=list(GROUPS), default="treatment"),
            OpenApiParameter("treatments", str, description="comma-separated treatment ids, e.g. 1,2"),
        ],
        responses=inline_serializer(
            "Comparison",
            {
                "group_by": serializers.CharField(),
                "groups": serializers.ListField(child=serializers.DictField()),
            },
        ),
    )
    def get(self, request):
        params = request.query_params
        group_by = params.get("group_by", "treatment")
        if group_by not in GROUPS:
            raise ValidationError({"group_by": [f"{group_by!r}: group by one of {', '.join(GROUPS)}"]})
        treatment_ids = _ids(params["treatments"], "treatments") if "treatments" in params else None
        particle_params = params.copy()
        for name in ("group_by", "treatments", "format"):
            particle_params.pop(name, None)
        particles = None
        if particle_params:
            unknown = sorted(set(particle_params) - set(ParticleFilterSet.base_filters))
            if unknown:
                raise ValidationError(
                    {n: ["unknown parameter; give group_by, treatments or particle filters"] for n in unknown}
                )
            fs = ParticleFilterSet(particle_params, queryset=visible(Particle, request.user))
            if not fs.is_valid():
                raise ValidationError(fs.errors)
            particles = fs.qs
        groups = treatment_comparison(
            user=request.user, group_by=group_by, particles=particles, treatment_ids=treatment_ids
        )
        return Response({"group_by": group_by, "groups": groups})


__all__ = ["TokenViewSet", "ObtainTokenView", "ComparisonView", "OpenApiTypes"]
