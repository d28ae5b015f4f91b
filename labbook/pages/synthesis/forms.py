"""Bench forms for batches and post-treatments: unit-aware inputs ("2.5 uL", "13.6 mg")."""

from __future__ import annotations

from django import forms

from labbook.pages.forms import ProjectScopedForm
from labbook.synthesis.models import PostTreatment, Synthesis
from labbook.units import QuantityFormField

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


class SynthesisForm(ProjectScopedForm):
    class Meta:
        model = Synthesis
        fields = ["project", "code", "date", *RECIPE_FIELDS, "notes"]
        widgets = {"date": forms.DateInput(), "notes": forms.Textarea(attrs={"rows": 3})}


class TreatmentForm(ProjectScopedForm):
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


class PortionForm(forms.Form):
    """One portion of a split: its code and what it takes of the parent (a fraction or a volume)."""

    code = forms.CharField(max_length=64)
    fraction = forms.FloatField(required=False, min_value=0, max_value=1, help_text="of the parent, 0-1")
    volume_taken = QuantityFormField(unit="mL", required=False)
    volume = QuantityFormField(unit="mL", required=False, label="own volume (re-dispersed in)")

    def clean(self):
        cleaned = super().clean()
        if not self.has_changed():
            return cleaned
        if (cleaned.get("fraction") is None) == (cleaned.get("volume_taken") is None):
            raise forms.ValidationError("give either the fraction taken or the volume taken, not both")
        return cleaned


PortionFormSet = forms.formset_factory(PortionForm, extra=0, min_num=1, max_num=48, validate_max=True)


class SplitForm(forms.Form):
    date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))


class PoolForm(ProjectScopedForm):
    """A pool: a new batch made of whole parent batches."""

    parents = forms.ModelMultipleChoiceField(queryset=Synthesis.objects.none(), help_text="taken whole")

    class Meta:
        model = Synthesis
        fields = ["project", "code", "date", "volume", "notes"]
        widgets = {"date": forms.DateInput(), "notes": forms.Textarea()}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, user=user, **kwargs)
        from labbook.pages.forms import writable_projects
        from labbook.projects.selectors import visible

        self.fields["parents"].queryset = visible(Synthesis, user).filter(project__in=writable_projects(user))
        self.fields["parents"].widget.attrs["size"] = 8
