"""Bench forms for batches and post-treatments: unit-aware inputs ("2.5 uL", "13.6 mg")."""

from __future__ import annotations

from django import forms

from labbook.projects.models import Role
from labbook.projects.selectors import projects_for, visible
from labbook.synthesis.models import Chemical, ChlorideStock, PostTreatment, Synthesis

RECIPE_FIELDS = [
    "pbi2",
    "pbi2_amount",
    "pbi2_mass",
    "mai",
    "mai_amount",
    "mai_mass",
    "precursor_solvent_volume",
    "injection_volume",
    "oam_volume",
    "topo_mass",
    "capping_toluene_volume",
    "capping_batches",
    "extra_toluene_volume",
    "stirring_time",
    "stirring_speed",
    "centrifugation_speed",
    "centrifugation_time",
    "washes",
    "temperature",
    "volume",
]


class _ProjectScoped(forms.ModelForm):
    """A form whose choices are limited to the projects the user may write to."""

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        if "project" in self.fields:
            self.fields["project"].queryset = projects_for(user, min_role=Role.EDITOR).filter(
                frozen_at__isnull=True
            )
        for f in self.fields.values():
            if isinstance(f.widget, forms.DateInput):
                f.widget.input_type = "date"


class SynthesisForm(_ProjectScoped):
    class Meta:
        model = Synthesis
        fields = ["project", "code", "date", *RECIPE_FIELDS, "notes"]
        widgets = {"date": forms.DateInput(), "notes": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, user=user, **kwargs)
        chemicals = visible(Chemical, user)
        self.fields["pbi2"].queryset = chemicals
        self.fields["mai"].queryset = chemicals


class TreatmentForm(_ProjectScoped):
    class Meta:
        model = PostTreatment
        fields = [
            "code",
            "batch",
            "stock",
            "volume_added",
            "suspension_volume",
            "nominal_cl_percent",
            "stirring_time",
            "stirring_speed",
            "date",
            "notes",
        ]
        widgets = {"date": forms.DateInput(), "notes": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, user=user, **kwargs)
        writable = projects_for(user, min_role=Role.EDITOR).filter(frozen_at__isnull=True)
        self.fields["batch"].queryset = visible(Synthesis, user).filter(project__in=writable)
        self.fields["stock"].queryset = visible(ChlorideStock, user).filter(project__in=writable)
