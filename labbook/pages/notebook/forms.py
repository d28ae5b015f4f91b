"""A notebook entry in Markdown, linked to the records it is about (saved by
labbook.notebook.services.entry_create, which refuses links to another project's records), with
files attached (images, PDF, CSV/TXT: labbook.notebook.services.entry_files_attach)."""

from django import forms

from labbook.files.attachments import accepted_types_text
from labbook.files.forms import MultipleFileField, MultipleFileInput
from labbook.notebook.models import NotebookEntry
from labbook.projects.models import Role
from labbook.projects.selectors import projects_for, visible

LINKS = ["batches", "treatments", "samples", "runs", "devices"]
#: what the file inputs offer in the browser's picker (the server checks the content anyway)
ACCEPT = ".png,.jpg,.jpeg,.tif,.tiff,.pdf,.csv,.tsv,.txt"


def _files_field() -> MultipleFileField:
    return MultipleFileField(
        required=False,
        label="Attach files",
        widget=MultipleFileInput(attrs={"accept": ACCEPT, "class": "notebook-files"}),
        help_text=f"drop files here or choose them, several at once: {accepted_types_text()}",
    )


class AttachForm(forms.Form):
    """The entry page's drop zone (no file: the service says "no file to attach")."""

    files = _files_field()


class EntryForm(forms.ModelForm):
    class Meta:
        model = NotebookEntry
        fields = ["project", "title", "body", *LINKS]
        widgets = {
            "body": forms.Textarea(
                attrs={"rows": 10, "placeholder": "Markdown: **bold**, lists, tables, CH~3~NH~3~PbI~3~, x^2^"}
            )
        }

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = projects_for(user, min_role=Role.EDITOR).filter(
            frozen_at__isnull=True
        )
        for name in LINKS:
            field = self.fields[name]
            field.queryset = visible(field.queryset.model, user)
            field.required = False
            field.widget.attrs["size"] = 6


class EntryCreateForm(EntryForm):
    """The new-entry page's form: an entry and its files, saved together (all or nothing)."""

    files = _files_field()
