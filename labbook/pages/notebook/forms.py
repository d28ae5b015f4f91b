"""A notebook entry in Markdown, linked to the records it is about (saved by
labbook.notebook.services.entry_create, which refuses links to another project's records)."""

from django import forms

from labbook.notebook.models import NotebookEntry
from labbook.projects.models import Role
from labbook.projects.selectors import projects_for, visible

LINKS = ["batches", "treatments", "samples", "runs", "devices"]


class EntryForm(forms.ModelForm):
    class Meta:
        model = NotebookEntry
        fields = ["project", "title", "body", *LINKS]
        widgets = {
            "body": forms.Textarea(attrs={"rows": 10, "placeholder": "Markdown: **bold**, lists, tables"})
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
