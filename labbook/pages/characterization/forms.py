"""Forms on a run's page: attach raw files and start its analysis."""

from django import forms

from labbook.files.forms import MultipleFileField


class AttachFilesForm(forms.Form):
    upload = MultipleFileField(
        label="Raw files", help_text="stored under their SHA-256; the same bytes are stored once"
    )
    analyse = forms.BooleanField(required=False, initial=True, label="Start the analysis after upload")


class AnalyseForm(forms.Form):
    force = forms.BooleanField(required=False, label="Run again even if these inputs were analysed")
