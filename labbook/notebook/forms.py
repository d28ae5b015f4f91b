"""A notebook entry in Markdown, linked to the records it is about."""

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

    def clean(self):
        data = super().clean()
        project = data.get("project")
        if project is not None:
            for name in LINKS:
                other = [str(o) for o in data.get(name) or [] if o.project_id != project.pk]
                if other:
                    self.add_error(name, f"not in project {project}: {', '.join(other)}")
        return data
