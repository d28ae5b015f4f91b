"""The bench pages' form base: choices limited to what the user may write to, unit-aware inputs.

Every bench form (batches, treatments, stocks, samples, runs, devices, measurements, notebook entries)
derives from :class:`ProjectScopedForm`: the project choice lists only projects where the user is an
editor and which are not frozen, and every link to another record lists only records the user can see
in those projects (a viewer's or a frozen project's records are not offered as a place to write).
Quantities are typed as people write them ("2.5 uL", "0,25 mL" is explained, "13.6 mg"): the model's
``QuantityField`` gives a ``QuantityFormField`` (labbook/units.py).
"""

from __future__ import annotations

from django import forms

from labbook.projects.models import Role
from labbook.projects.selectors import projects_for, visible


def writable_projects(user):
    """The projects ``user`` may write to: editor or admin, not frozen."""
    return projects_for(user, min_role=Role.EDITOR).filter(frozen_at__isnull=True)


class ProjectScopedForm(forms.ModelForm):
    """A ModelForm whose project and record choices are the user's writable ones."""

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        writable = writable_projects(user)
        for name, field in self.fields.items():
            if name == "project":
                field.queryset = writable
            elif isinstance(field, forms.ModelChoiceField):  # also ModelMultipleChoiceField
                model = field.queryset.model
                if hasattr(model, "project"):
                    field.queryset = visible(model, user).filter(project__in=writable)
                if isinstance(field, forms.ModelMultipleChoiceField):
                    field.widget.attrs.setdefault("size", 6)
            if isinstance(field.widget, forms.DateInput):
                field.widget.input_type = "date"
            if isinstance(field.widget, forms.Textarea):
                field.widget.attrs.setdefault("rows", 3)
