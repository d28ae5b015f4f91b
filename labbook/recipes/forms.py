"""The forms of the template pages: a template of each kind, and applying a series template."""

from __future__ import annotations

import datetime as dt

from django import forms

from labbook.projects.models import Role
from labbook.projects.selectors import projects_for, visible
from labbook.recipes.models import RECIPE_FIELDS, SERIES_UNITS, TemplateKind
from labbook.synthesis.models import Chemical, ChlorideStock, Synthesis
from labbook.units import QuantityField


def writable_projects(user):
    return projects_for(user, min_role=Role.EDITOR).filter(frozen_at__isnull=True)


def _quantity(label: str, unit: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"placeholder": f"e.g. 2.5 {unit}", "class": "quantity-input"}),
        help_text=f"in {unit} or any unit of the same kind",
    )


class TemplateForm(forms.Form):
    """Name, description and the fields of ``kind``; ``project`` only when making a template."""

    project = forms.ModelChoiceField(queryset=None)
    name = forms.CharField(max_length=100)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, user, kind: str, with_project: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind
        if with_project:
            self.fields["project"].queryset = writable_projects(user)
        else:
            del self.fields["project"]
        self.kind_fields: list[str] = []
        if kind == TemplateKind.SYNTHESIS:
            chemicals = visible(Chemical, user).filter(project__in=writable_projects(user))
            for name in RECIPE_FIELDS:
                field = Synthesis._meta.get_field(name)
                label = field.verbose_name[:1].upper() + field.verbose_name[1:]
                if field.is_relation:
                    self.fields[name] = forms.ModelChoiceField(chemicals, required=False, label=label)
                elif isinstance(field, QuantityField):
                    self.fields[name] = _quantity(label, field.unit)
                else:
                    self.fields[name] = forms.IntegerField(required=False, min_value=0, label=label)
                self.kind_fields.append(name)
        elif kind == TemplateKind.SERIES:
            self.fields["targets"] = forms.CharField(
                label="Targets (Cl:I, %)",
                max_length=200,
                help_text="comma-separated, one portion each, e.g. 0, 3, 9, 17",
            )
            labels = {"suspension_volume": "Suspension volume", "stirring_time": "Stirring time"}
            for name, unit in SERIES_UNITS.items():
                self.fields[name] = _quantity(labels.get(name, name.replace("_", " ").capitalize()), unit)
            self.fields["notes"] = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
            self.kind_fields += ["targets", *SERIES_UNITS, "notes"]
        elif kind == TemplateKind.ENTRY:
            self.fields["title"] = forms.CharField(max_length=200)
            self.fields["body"] = forms.CharField(
                required=False, widget=forms.Textarea(attrs={"rows": 8}), help_text="Markdown"
            )
            self.kind_fields += ["title", "body"]

    def template_fields(self) -> dict[str, str]:
        """The cleaned kind fields as a template stores them (text; chemicals by id), empty ones left out."""
        out = {}
        for name in self.kind_fields:
            value = self.cleaned_data.get(name)
            if value is None or value == "":
                continue
            out[name] = str(value.pk) if hasattr(value, "pk") else str(value)
        return out


class SeriesApplyForm(forms.Form):
    """The pool (or portion) and the stock a series template is applied to, and the date."""

    batch = forms.ModelChoiceField(
        queryset=None, label="Pool or portion", help_text="one untreated portion per target, in code order"
    )
    stock = forms.ModelChoiceField(queryset=None, label="Chloride stock")
    date = forms.DateField(
        required=False,
        initial=dt.date.today,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="of the treatments; today when empty",
    )

    def __init__(self, *args, user, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["batch"].queryset = visible(Synthesis, user).filter(project=project).order_by("code")
        self.fields["stock"].queryset = visible(ChlorideStock, user).filter(project=project).order_by("code")

    def clean_date(self):
        return self.cleaned_data.get("date") or dt.date.today()
