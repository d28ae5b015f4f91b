"""/api/tags/: a project's tags, and putting a tag on a record or taking it off.

- ``GET /api/tags/`` the tags of the projects the user sees, each with how many records carry it;
  ``?project=<id>`` one project's; ``?record_type=batch&record_id=7`` the tags of one record.
- ``POST /api/tags/add/`` and ``POST /api/tags/remove/`` with ``{"record_type": "batch",
  "record_id": 7, "name": "ethanol-wash"}``: through the tagging services (editor role, freeze,
  history); the answer is the record's tags.

Record types are the names of the API's lists (batch, stock, treatment, sample, chemical, run,
device, measurement, entry). Every list of those takes ``?tag=<name>`` (labbook/filters.py).
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from labbook.projects.selectors import visible
from labbook.tagging import selectors, services
from labbook.tagging.kinds import KINDS, model_of
from labbook.tagging.models import Tag


class TagSerializer(serializers.ModelSerializer):
    records = serializers.IntegerField(read_only=True, help_text="how many records carry the tag")

    class Meta:
        model = Tag
        fields = ["id", "project", "name", "records", "created_at"]


class RecordTagSerializer(serializers.Serializer):
    record_type = serializers.ChoiceField(choices=sorted(KINDS))
    record_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    name = serializers.CharField(max_length=200, required=False, help_text="the tag, e.g. ethanol-wash")


class RecordTagsSerializer(serializers.Serializer):
    record_type = serializers.CharField()
    record_id = serializers.IntegerField()
    tags = serializers.ListField(child=serializers.CharField())


def _record(user, data: dict):
    serializer = RecordTagSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    kind, pk = serializer.validated_data["record_type"], serializer.validated_data["record_id"]
    record = visible(model_of(kind), user).filter(pk=pk).first()
    if record is None:
        raise NotFound(f"no {kind} {pk}")
    return kind, record, serializer.validated_data.get("name", "")


def _answer(kind, record, code=status.HTTP_200_OK) -> Response:
    tags = [t.name for t in selectors.tags_of(record)]
    return Response({"record_type": kind, "record_id": record.pk, "tags": tags}, status=code)


@extend_schema(
    parameters=[
        OpenApiParameter("project", int, description="one project's tags"),
        OpenApiParameter(
            "record_type", str, enum=sorted(KINDS), description="with record_id: one record's tags"
        ),
        OpenApiParameter("record_id", int),
    ]
)
class TagListView(generics.ListAPIView):
    serializer_class = TagSerializer
    filter_backends: list = []

    def get_queryset(self):
        params = self.request.query_params
        qs = selectors.project_tags(self.request.user)
        if "project" in params:
            try:
                qs = qs.filter(project_id=int(params["project"]))
            except ValueError:
                raise ApiValidationError({"project": ["a project id (an integer)"]}) from None
        if "record_type" in params or "record_id" in params:
            _, record, _ = _record(self.request.user, params)
            qs = qs.filter(pk__in=selectors.tags_of(record).values("pk"))
        return qs


class _TagWrite(APIView):
    action_fn = None

    def post(self, request):
        kind, record, name = _record(request.user, request.data)
        type(self).action_fn(user=request.user, record=record, name=name, reason="through the API")
        return _answer(kind, record, self.status_code)


class TagAddView(_TagWrite):
    """Put a tag on a record (the project's tag is made if new); adding it twice changes nothing."""

    action_fn = staticmethod(services.tag_add)
    status_code = status.HTTP_201_CREATED

    @extend_schema(request=RecordTagSerializer, responses={201: RecordTagsSerializer})
    def post(self, request):
        return super().post(request)


class TagRemoveView(_TagWrite):
    """Take a tag off a record (400 if it does not carry it)."""

    action_fn = staticmethod(services.tag_remove)
    status_code = status.HTTP_200_OK

    @extend_schema(request=RecordTagSerializer, responses={200: RecordTagsSerializer})
    def post(self, request):
        return super().post(request)


urlpatterns = [
    path("", TagListView.as_view(), name="tag-list"),
    path("add/", TagAddView.as_view(), name="tag-add"),
    path("remove/", TagRemoveView.as_view(), name="tag-remove"),
]
