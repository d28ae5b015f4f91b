from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html

from labbook.archives.jobs import (
    archive_export_submit,
    archive_import_submit,
    archive_jobs_for,
    may_create_projects,
)
from labbook.archives.models import ArchiveJob, ElnImport, FreezeEvent, ImportedRecord
from labbook.archives.services import project_freeze, project_unfreeze
from labbook.projects.admin import ReadOnlyScopedAdmin
from labbook.projects.admin import active_staff as _active_staff
from labbook.projects.models import Membership, Project, Role
from labbook.projects.permissions import RecordNotFound, can_admin, has_role
from labbook.projects.selectors import projects_for


class _ReadOnlyScoped(ReadOnlyScopedAdmin):
    """Written only by the archive services; members of the project may read them."""


@admin.register(FreezeEvent)
class FreezeEventAdmin(_ReadOnlyScoped):
    list_display = ["project", "action", "at", "user", "reason", "manifest_path"]
    list_filter = ["action", ("project", admin.RelatedOnlyFieldListFilter)]  # only theirs
    search_fields = ["reason", "project__name"]


@admin.register(ImportedRecord)
class ImportedRecordAdmin(_ReadOnlyScoped):
    list_display = [
        "model", "object_id", "project", "source", "source_id", "checksum", "imported_at", "imported_by"
    ]  # fmt: skip
    list_filter = ["source", "model", "checksum", ("project", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["source_id", "source"]


@admin.register(ElnImport)
class ElnImportAdmin(_ReadOnlyScoped):
    """Each import: the archive, the ELN that exported it, its signature and what came in (files
    without a sha256 in the archive are listed as unverified)."""

    list_display = ["file_name", "project", "source", "signature_display", "imported_at", "imported_by"]
    list_filter = ["source", "signature", ("project", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["file_name", "source", "signature_key_id"]

    @admin.display(description="signature", ordering="signature")
    def signature_display(self, obj):
        return obj.signature_text


# ----------------------------------------------------------------------------------------------
# .eln exports and imports as background jobs (labbook.archives.jobs decides who may)
# ----------------------------------------------------------------------------------------------
def _refusal(exc) -> str:
    return "; ".join(getattr(exc, "messages", None) or [str(exc)])


def export_projects_eln(modeladmin, request, queryset) -> None:
    """The Project admin's action "Export as .eln": one background export per selected project,
    refused (with the reason, as on the page and in the API) where the user is not its admin."""
    for project in queryset:
        try:
            job, created = archive_export_submit(user=request.user, project=project)
        except (PermissionDenied, RecordNotFound) as exc:
            text = "not a member of the project" if isinstance(exc, RecordNotFound) else _refusal(exc)
            modeladmin.message_user(request, f"{project} not exported: {text}", messages.ERROR)
            continue
        url = reverse("admin:archives_archivejob_change", args=[job.pk])
        modeladmin.message_user(
            request,
            format_html(
                '{} export of {}: <a href="{}">archive job {}</a> (the .eln to download there once done)',
                "started the" if created else "already running:",
                project,
                url,
                job.pk,
            ),
            messages.SUCCESS,
        )


class ArchiveImportForm(forms.Form):
    file = forms.FileField(label=".eln file", help_text="an archive exported by labbook or another ELN")
    slug = forms.CharField(
        required=False, max_length=80, help_text="the new project's slug (default: the archive's)"
    )


@admin.register(ArchiveJob)
class ArchiveJobAdmin(admin.ModelAdmin):
    """Exports and imports run by the job worker. "Add" is the import: upload a .eln (users who may
    create projects); exports start from the Project admin's action. Read-only otherwise;
    superusers delete old jobs (with their files)."""

    list_display = ["id", "kind", "what", "status", "progress_bar", "requested_by", "created_at", "download"]
    list_filter = ["kind", "status"]
    search_fields = ["file_name", "project__name", "error"]
    readonly_fields = [f.name for f in ArchiveJob._meta.fields if f.name != "id"] + ["download"]

    def get_queryset(self, request):
        return archive_jobs_for(request.user)

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff

    def has_add_permission(self, request):
        return request.user.is_active and request.user.is_staff and may_create_projects(request.user)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser and (obj is None or not obj.is_active)

    @admin.display(description="project or file")
    def what(self, obj):
        return obj.project or obj.imported_project or obj.file_name

    @admin.display(description="progress")
    def progress_bar(self, obj):
        return format_html(
            '<progress value="{}" max="1" title="{}"></progress> {}',
            f"{obj.progress:.3f}",
            obj.progress_message,
            obj.error or obj.progress_message,
        )

    @admin.display(description="archive")
    def download(self, obj):
        if obj.kind == "export" and obj.status == "succeeded" and obj.file_path:
            try:
                url = reverse("archives:download", args=[obj.pk])
            except NoReverseMatch:  # a site without the pages
                return obj.file_name
            return format_html('<a href="{}">{}</a>', url, obj.file_name)
        return "—"

    def add_view(self, request, form_url="", extra_context=None):
        """The import: upload a .eln; the worker imports it as a new project."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ArchiveImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                job = archive_import_submit(
                    user=request.user, upload=form.cleaned_data["file"], slug=form.cleaned_data["slug"]
                )
            except ValidationError as exc:
                if hasattr(exc, "error_dict"):
                    for name, errors in exc.message_dict.items():
                        form.add_error(name if name in form.fields else None, errors)
                else:
                    form.add_error(None, exc.messages)
            else:
                self.message_user(request, f"{job.file_name} uploaded; the worker imports it (job {job.pk})")
                return redirect("admin:archives_archivejob_change", job.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "title": "Import a .eln as a new project",
        }
        return TemplateResponse(request, "admin/archives/archivejob/import.html", context)


# ----------------------------------------------------------------------------------------------
# The Project's admin page: memberships, and the archives' actions on a project (freeze, unfreeze,
# export as .eln). Registered here, in the archives layer, because freezing and exporting are the
# archives' services: the projects app below knows nothing of them.
# ----------------------------------------------------------------------------------------------
class MembershipInline(admin.TabularInline):
    """Memberships are managed by the project's admins (and superusers)."""

    model = Membership
    extra = 0
    autocomplete_fields = ["user", "group"]

    def has_view_permission(self, request, obj=None):
        return _active_staff(request) and (obj is None or has_role(request.user, obj, Role.VIEWER))

    def has_add_permission(self, request, obj=None):
        return obj is not None and _active_staff(request) and can_admin(request.user, obj)

    has_change_permission = has_delete_permission = has_add_permission


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    """Members see their projects; project admins manage memberships and freeze; only a
    superuser creates projects and unfreezes them."""

    list_display = ["name", "slug", "created_at", "frozen_at", "freeze_reason"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at", "frozen_at", "frozen_by", "freeze_reason", "freeze_actions"]
    inlines = [MembershipInline]
    actions = ["export_eln"]

    def get_queryset(self, request):
        return projects_for(request.user)

    def has_view_permission(self, request, obj=None):
        return _active_staff(request) and (
            projects_for(request.user).exists() if obj is None else has_role(request.user, obj, Role.VIEWER)
        )

    def has_add_permission(self, request):
        return _active_staff(request) and request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        if not _active_staff(request):
            return False
        if obj is None:
            return projects_for(request.user, min_role=Role.ADMIN).exists()
        return can_admin(request.user, obj)

    def has_delete_permission(self, request, obj=None):
        return _active_staff(request) and request.user.is_superuser and (obj is None or not obj.is_frozen)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.is_frozen and not request.user.is_superuser:
            fields += ["name", "slug", "description"]
        return fields

    def get_prepopulated_fields(self, request, obj=None):
        return {} if obj is not None and obj.is_frozen else super().get_prepopulated_fields(request, obj)

    @admin.display(description="freeze")
    def freeze_actions(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        if obj.is_frozen:
            url = reverse("admin:projects_project_unfreeze", args=[obj.pk])
            return format_html('<a class="button" href="{}">Unfreeze (superusers)…</a>', url)
        url = reverse("admin:projects_project_freeze", args=[obj.pk])
        return format_html('<a class="button" href="{}">Freeze this project…</a>', url)

    @admin.action(description="Export as .eln (a background job; download it from its archive job)")
    def export_eln(self, request, queryset):
        export_projects_eln(self, request, queryset)

    def get_urls(self):
        return [
            path(
                "<int:pk>/freeze/",
                self.admin_site.admin_view(self.freeze_view),
                name="projects_project_freeze",
            ),
            path(
                "<int:pk>/unfreeze/",
                self.admin_site.admin_view(self.unfreeze_view),
                name="projects_project_unfreeze",
            ),
            *super().get_urls(),
        ]

    def _freeze_form_view(self, request, pk: int, *, unfreeze: bool):
        project = self.get_queryset(request).filter(pk=pk).first()
        if project is None:
            raise Http404
        error = None
        if request.method == "POST":
            try:
                if unfreeze:
                    project_unfreeze(
                        project=project, user=request.user, reason=request.POST.get("reason", "")
                    )
                    messages.success(request, f"{project} is unfrozen; the reason is kept.")
                else:
                    event = project_freeze(
                        project=project, user=request.user, reason=request.POST.get("reason", "")
                    )
                    messages.success(request, f"{project} is frozen; signed manifest: {event.manifest_path}")
                return redirect("admin:projects_project_change", project.pk)
            except RecordNotFound:
                raise Http404 from None
            except (ValidationError, PermissionDenied) as exc:
                error = "; ".join(getattr(exc, "messages", [str(exc)]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "project": project,
            "unfreeze": unfreeze,
            "error": error,
            "title": f"{'Unfreeze' if unfreeze else 'Freeze'} {project}",
        }
        return TemplateResponse(request, "admin/projects/project/freeze.html", context)

    def freeze_view(self, request, pk: int):
        return self._freeze_form_view(request, pk, unfreeze=False)

    def unfreeze_view(self, request, pk: int):
        return self._freeze_form_view(request, pk, unfreeze=True)
