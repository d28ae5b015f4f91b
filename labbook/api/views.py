"""Project-level API views: tokens, the treatment comparison, the API root's schema and docs."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from labbook.api.serializers import StrictFieldsMixin
from labbook.projects.selectors import visible
from labbook.results.filters import ParticleFilterSet
from labbook.results.models import Particle
from labbook.results.selectors import GROUPS, treatment_comparison


# --- tokens ---------------------------------------------------------------------------------
class TokenSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Token
        fields = ["user", "username", "created"]
        read_only_fields = ["user", "created"]


class TokenCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    user = serializers.IntegerField(
        required=False, min_value=1, help_text="whose token (admins only; default: your own)"
    )


class NewTokenSerializer(TokenSerializer):
    key = serializers.CharField(read_only=True, help_text="shown once: keep it secret")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "key"]


class TokenViewSet(mixins.ListModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """API tokens. Everyone manages their own; staff manage everyone's. Creating a token replaces
    the user's previous one (its key is shown once); deleting revokes it. Identified by user id."""

    queryset = Token.objects.none()  # for the schema; see get_queryset
    serializer_class = TokenSerializer
    lookup_field = "user"
    lookup_value_regex = r"[0-9]+"
    filterset_fields = ["user"]
    ordering_fields = ["created", "user"]

    def get_queryset(self):
        qs = Token.objects.select_related("user").order_by("user_id")
        user = self.request.user
        if getattr(self, "swagger_fake_view", False) or not user.is_authenticated:
            return qs.none()
        return qs if user.is_staff else qs.filter(user=user)

    @extend_schema(request=TokenCreateSerializer, responses={201: NewTokenSerializer})
    def create(self, request):
        data = TokenCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user_id = data.validated_data.get("user", request.user.pk)
        if user_id != request.user.pk and not request.user.is_staff:
            raise NotFound("no such user")
        user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
        if user is None:
            raise NotFound("no such user")
        Token.objects.filter(user=user).delete()
        token = Token.objects.create(user=user)
        return Response(NewTokenSerializer(token).data, status=status.HTTP_201_CREATED)


class ObtainTokenView(ObtainAuthToken):
    """Exchange a user name and password for your API token (made on first use)."""

    @extend_schema(
        request=inline_serializer(
            "TokenRequest", {"username": serializers.CharField(), "password": serializers.CharField()}
        ),
        responses=inline_serializer("TokenResponse", {"token": serializers.CharField()}),
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


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
