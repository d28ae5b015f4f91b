"""Uploading raw files from the admin (and later the bench pages): several files at once."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError

from labbook.files.services import raw_files_attach
from labbook.files.signals import analysis_requested


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """A file field that takes several files (Django's documented recipe)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, (list, tuple)):
            return [single(d, initial) for d in data]
        return [single(data, initial)] if data else []


class RawFileUploadForm(forms.ModelForm):
    """A record's admin form with an upload box for raw files."""

    upload = MultipleFileField(
        required=False,
        label="Upload raw files",
        help_text="stored under their SHA-256; the same bytes are stored once",
    )
    analyse = forms.BooleanField(required=False, initial=True, label="Analyse after upload")


class UploadFilesAdminMixin:
    """Adds "upload raw files" (and "analyse after upload") to a ModelAdmin of a record with
    ``raw_files``: the uploads go through labbook.files.services.raw_files_attach (role, freeze,
    streamed with SHA-256, stored once per content, linked), all or nothing: a refused file is
    shown on the form, and neither the files nor the record's other changes are saved."""

    form = RawFileUploadForm

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        obj = form.instance
        uploads = form.cleaned_data.get("upload") or []
        if not uploads:
            return
        try:
            stored = raw_files_attach(user=request.user, target=obj, files=uploads, reason="admin: uploaded")
        except ValidationError as exc:
            raise ValidationError({"upload": f"nothing was stored: {'; '.join(exc.messages)}"}) from None
        self.message_user(
            request, f"stored {len(stored)} file(s): " + ", ".join(r.original_name for r in stored)
        )
        if form.cleaned_data.get("analyse"):
            self.queue_analysis(request, obj)

    def queue_analysis(self, request, obj):
        """Ask the layers above for the record's analysis (labbook.files.signals; the jobs app
        answers with the queued job) and say what happened."""
        for _receiver, answer in analysis_requested.send_robust(
            sender=type(obj), target=obj, user=request.user
        ):
            if isinstance(answer, ValidationError):
                self.message_user(
                    request, f"analysis not queued: {'; '.join(answer.messages)}", messages.WARNING
                )
            elif isinstance(answer, Exception):
                raise answer
            elif answer is not None:
                self.message_user(
                    request, f"analysis job {answer.pk} ({answer.get_kind_display()}): {answer.status}"
                )
