from django.contrib import admin

from labbook.characterization import services
from labbook.characterization.models import CharacterizationRun
from labbook.files.forms import UploadFilesAdminMixin
from labbook.projects.admin import ProjectScopedAdmin, quantity_column


@admin.register(CharacterizationRun)
class CharacterizationRunAdmin(UploadFilesAdminMixin, ProjectScopedAdmin):
    """Runs are written through labbook.characterization.services; their raw files are linked
    (existing ones, of the run's project) or uploaded (raw_files_attach) on the same form."""

    service = services.runs
    list_display = [
        "code",
        "technique",
        "sample",
        "treatment",
        "instrument",
        "date",
        "operator",
        "excitation_display",
        "file_count",
    ]
    list_filter = ["technique", "sample__treatment", "date", "operator", "project"]
    search_fields = ["code", "instrument", "notes", "sample__code", "sample__batch__code"]
    date_hierarchy = "date"
    list_select_related = ["sample__treatment", "operator", "project"]
    autocomplete_fields = ["raw_files"]
    excitation_display = quantity_column("excitation_wavelength", description="excitation")

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(n_files=Count("raw_files"))

    @admin.display(description="treatment", ordering="sample__treatment__code")
    def treatment(self, obj):
        return obj.sample.treatment or "untreated"

    @admin.display(description="files", ordering="n_files")
    def file_count(self, obj):
        return obj.n_files
