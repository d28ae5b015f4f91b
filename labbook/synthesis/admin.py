from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from labbook.projects.admin import ProjectScopedAdmin, ProjectScopedInline, quantity_column
from labbook.synthesis import services
from labbook.synthesis.models import BatchLink, Chemical, ChlorideStock, PostTreatment, Sample, Synthesis
from labbook.synthesis.selectors import batch_lineage
from labbook.units import format_quantity


@admin.register(Chemical)
class ChemicalAdmin(ProjectScopedAdmin):
    service = services.chemicals
    list_display = [
        "name",
        "formula",
        "molar_mass_display",
        "cas",
        "purity_display",
        "supplier",
        "lot",
        "project",
    ]
    list_filter = ["project", "supplier"]
    search_fields = ["name", "formula", "cas", "supplier", "lot"]
    molar_mass_display = quantity_column("molar_mass", description="molar mass")
    purity_display = quantity_column("purity")


class ParentLinkInline(ProjectScopedInline):
    model = BatchLink
    service = services.links
    fk_name = "child"
    extra = 0
    fields = ["parent", "fraction", "volume_taken"]
    verbose_name = "made from"
    verbose_name_plural = "made from (lineage)"

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        from labbook.projects.selectors import visible

        if db_field.name == "parent":
            kwargs["queryset"] = visible(Synthesis, request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


def _batch_link(batch):
    return format_html(
        '<a href="{}">{}</a>', reverse("admin:synthesis_synthesis_change", args=[batch.pk]), batch.code
    )


def _tree(nodes, key):
    if not nodes:
        return ""
    items = format_html_join(
        "",
        "<li>{} ({:.4g} %){}</li>",
        ((_batch_link(n["batch"]), 100 * n["fraction"], _tree(n[key], key)) for n in nodes),
    )
    return format_html("<ul>{}</ul>", items)


@admin.register(Synthesis)
class SynthesisAdmin(ProjectScopedAdmin):
    service = services.batches
    list_display = [
        "code",
        "kind",
        "date",
        "operator",
        "injection_volume_display",
        "volume_display",
        "iodide_display",
        "project",
    ]
    list_filter = ["kind", "date", "operator", "project"]
    search_fields = ["code", "notes", "method"]
    date_hierarchy = "date"
    list_select_related = ["project", "operator"]
    autocomplete_fields = ["pbi2", "mai"]
    inlines = [ParentLinkInline]
    readonly_fields = ["iodide_display", "lineage", *ProjectScopedAdmin.readonly_fields]
    fieldsets = [
        (None, {"fields": ["project", "code", "kind", "date", "operator", "method", "volume", "notes"]}),
        (
            "Precursor solution (injection-precipitation)",
            {
                "fields": [
                    ("pbi2", "pbi2_amount", "pbi2_mass"),
                    ("mai", "mai_amount", "mai_mass"),
                    "precursor_solvent_volume",
                    "injection_volume",
                ]
            },
        ),
        (
            "Capping agents and antisolvent",
            {
                "fields": [
                    "oam_volume",
                    "topo_mass",
                    "capping_toluene_volume",
                    "capping_batches",
                    "extra_toluene_volume",
                ]
            },
        ),
        (
            "Conditions and work-up",
            {
                "fields": [
                    ("stirring_time", "stirring_speed"),
                    ("centrifugation_speed", "centrifugation_time"),
                    "washes",
                    "temperature",
                ]
            },
        ),
        ("Derived", {"fields": ["iodide_display", "lineage"]}),
        ("Record", {"classes": ["collapse"], "fields": ProjectScopedAdmin.readonly_fields}),
    ]
    injection_volume_display = quantity_column("injection_volume", description="injected")
    volume_display = quantity_column("volume", description="volume")

    @admin.display(description="iodide in MAPbI3")
    def iodide_display(self, obj):
        if obj.pk is None:
            return "—"
        iodide = obj.iodide_amount()
        return format_quantity(iodide, "umol") if iodide is not None else "not on record"

    @admin.display(description="lineage")
    def lineage(self, obj):
        if obj.pk is None:
            return "—"
        tree = batch_lineage(obj)
        up = _tree(tree["parents"], "parents") or "—"
        down = _tree(tree["children"], "children") or "—"
        return format_html("<b>made from</b>{}<b>went into</b>{}", up, down)


@admin.register(ChlorideStock)
class ChlorideStockAdmin(ProjectScopedAdmin):
    service = services.stocks
    list_display = [
        "code",
        "salt",
        "salt_mass_display",
        "salt_amount_display",
        "solvent",
        "solvent_volume_display",
        "concentration_display",
        "date",
        "project",
    ]
    list_filter = ["project", "date", "solvent"]
    search_fields = ["code", "notes"]
    readonly_fields = [
        "concentration_display",
        "volume_used_display",
        "volume_left_display",
        *ProjectScopedAdmin.readonly_fields,
    ]
    autocomplete_fields = ["salt"]
    salt_mass_display = quantity_column("salt_mass", description="salt mass")
    salt_amount_display = quantity_column("salt_amount", description="salt amount")
    solvent_volume_display = quantity_column("solvent_volume", description="solvent")

    @admin.display(description="concentration")
    def concentration_display(self, obj):
        c = obj.concentration() if obj.pk else None
        return format_quantity(c, "mol/L", digits=4) if c is not None else "—"

    @admin.display(description="used by treatments")
    def volume_used_display(self, obj):
        return format_quantity(obj.volume_used(), "uL", digits=4) if obj.pk else "—"

    @admin.display(description="left")
    def volume_left_display(self, obj):
        left = obj.volume_left() if obj.pk else None
        return format_quantity(left, "uL", digits=4) if left is not None else "—"


class SampleInline(ProjectScopedInline):
    """Samples taken from the treated portion (their batch is the treatment's)."""

    model = Sample
    service = services.samples
    extra = 0
    fields = ["code", "kind", "substrate", "date"]
    show_change_link = True


@admin.register(PostTreatment)
class PostTreatmentAdmin(ProjectScopedAdmin):
    service = services.treatments
    list_display = [
        "code",
        "batch",
        "stock",
        "volume_added_display",
        "nominal_cl_percent",
        "cl_to_i_display",
        "solvent_fraction_display",
        "date",
        "operator",
    ]
    list_filter = ["nominal_cl_percent", "date", "operator", "project"]
    search_fields = ["code", "batch__code", "notes"]
    date_hierarchy = "date"
    list_select_related = ["batch", "stock", "operator", "project"]
    readonly_fields = [
        "chloride_display",
        "iodide_display",
        "cl_to_i_display",
        "solvent_fraction_display",
        *ProjectScopedAdmin.readonly_fields,
    ]
    fieldsets = [
        (None, {"fields": ["project", "code", "batch", "stock", "date", "operator", "nominal_cl_percent"]}),
        (
            "Treatment",
            {"fields": ["volume_added", "suspension_volume", ("stirring_time", "stirring_speed"), "notes"]},
        ),
        (
            "Derived (computed from the record)",
            {"fields": ["chloride_display", "iodide_display", "cl_to_i_display", "solvent_fraction_display"]},
        ),
        ("Record", {"classes": ["collapse"], "fields": ProjectScopedAdmin.readonly_fields}),
    ]
    inlines = [SampleInline]
    volume_added_display = quantity_column("volume_added", description="volume added")
    cl_to_i_display = quantity_column("cl_to_i", description="Cl:I")
    solvent_fraction_display = quantity_column("solvent_fraction", description="ethanol/toluene (v/v)")
    chloride_display = quantity_column("chloride_amount", description="Cl added")
    iodide_display = quantity_column("iodide_amount", description="iodide in portion")


@admin.register(Sample)
class SampleAdmin(ProjectScopedAdmin):
    service = services.samples
    list_display = ["code", "kind", "batch", "treatment", "substrate", "date", "project"]
    list_filter = ["kind", "treatment", "date", "project"]
    search_fields = ["code", "batch__code", "treatment__code", "substrate", "notes"]
    list_select_related = ["batch", "treatment", "project"]
