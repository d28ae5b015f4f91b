"""Serializers for chemicals, batches, lineage links, stocks, treatments and samples."""

from rest_framework import serializers

from labbook.api.fields import IdentityUrlField
from labbook.api.serializers import RecordSerializer, link_serializer
from labbook.synthesis.models import BatchLink, Chemical, ChlorideStock, PostTreatment, Sample, Synthesis
from labbook.synthesis.selectors import batch_lineage

BatchLinkRef = link_serializer(Synthesis, "api:batch-detail", "code", "kind", "date")
TreatmentRef = link_serializer(PostTreatment, "api:treatment-detail", "code", "nominal_cl_percent")


class ChemicalSerializer(RecordSerializer):
    url = IdentityUrlField(view_name="api:chemical-detail")

    class Meta:
        model = Chemical
        fields = "__all__"


class ParentLinkSerializer(serializers.ModelSerializer):
    """Where a batch came from: the parent and the share of it taken."""

    parent = BatchLinkRef(read_only=True)
    fraction_of_parent = serializers.FloatField(read_only=True)

    class Meta:
        model = BatchLink
        fields = ["id", "parent", "fraction", "fraction_of_parent"]


class BatchSerializer(RecordSerializer):
    url = IdentityUrlField(view_name="api:batch-detail")
    parents = ParentLinkSerializer(source="parent_links", many=True, read_only=True)

    class Meta:
        model = Synthesis
        fields = "__all__"


class LineageNodeSerializer(serializers.Serializer):
    batch = serializers.SerializerMethodField()
    fraction = serializers.FloatField()

    def get_batch(self, node) -> dict:
        b = node["batch"]
        return {"id": b.pk, "code": b.code, "kind": b.kind, "date": b.date.isoformat()}


def _lineage_json(node: dict, key: str) -> dict:
    b = node["batch"]
    out = {"id": b.pk, "code": b.code, "kind": b.kind, "date": b.date.isoformat()}
    if "fraction" in node:
        out["fraction"] = node["fraction"]
    out[key] = [_lineage_json(n, key) for n in node.get(key, [])]
    return out


def lineage_json(batch: Synthesis) -> dict:
    """``batch_lineage`` as JSON: {"batch", "parents": [{id, code, kind, date, fraction, parents}], "children": [...]}."""
    tree = batch_lineage(batch)
    return {
        "batch": {"id": batch.pk, "code": batch.code, "kind": batch.kind, "date": batch.date.isoformat()},
        "parents": [_lineage_json(n, "parents") for n in tree["parents"]],
        "children": [_lineage_json(n, "children") for n in tree["children"]],
    }


_LINEAGE_SCHEMA = {
    "type": "object",
    "properties": {
        "batch": {"type": "object"},
        "parents": {"type": "array", "items": {"type": "object"}},
        "children": {"type": "array", "items": {"type": "object"}},
    },
}


class BatchDetailSerializer(BatchSerializer):
    lineage = serializers.SerializerMethodField(help_text="batches upstream and downstream, with fractions")
    treatments = TreatmentRef(many=True, read_only=True)

    def get_lineage(self, obj) -> dict:
        return lineage_json(obj)


class BatchLinkSerializer(RecordSerializer):
    url = IdentityUrlField(view_name="api:batchlink-detail")

    class Meta:
        model = BatchLink
        fields = "__all__"


class StockSerializer(RecordSerializer):
    url = IdentityUrlField(view_name="api:stock-detail")
    concentration_mol_per_l = serializers.SerializerMethodField()

    class Meta:
        model = ChlorideStock
        fields = "__all__"

    volume_used_ul = serializers.SerializerMethodField(help_text="stock solution used by its treatments, uL")
    volume_left_ul = serializers.SerializerMethodField(help_text="stock solution left, uL")

    def get_concentration_mol_per_l(self, obj) -> float | None:
        c = obj.concentration()
        return None if c is None else float(c.to("mol/L").magnitude)

    def get_volume_used_ul(self, obj) -> float:
        used = getattr(obj, "used_ul", None)  # annotated by the viewset's queryset
        return float(used) if used is not None else float(obj.volume_used().to("uL").magnitude)

    def get_volume_left_ul(self, obj) -> float | None:
        if obj.solvent_volume is None:
            return None
        return float(obj.solvent_volume.to("uL").magnitude) - self.get_volume_used_ul(obj)


class TreatmentSerializer(RecordSerializer):
    url = IdentityUrlField(view_name="api:treatment-detail")

    class Meta:
        model = PostTreatment
        fields = "__all__"


class TreatmentDetailSerializer(TreatmentSerializer):
    batch_lineage = serializers.SerializerMethodField(help_text="the treated portion's lineage")

    def get_batch_lineage(self, obj) -> dict:
        return lineage_json(obj.batch)


class SampleSerializer(RecordSerializer):
    url = IdentityUrlField(view_name="api:sample-detail")

    class Meta:
        model = Sample
        fields = "__all__"
