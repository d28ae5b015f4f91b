"""A ModelForm that carries the record's version, so a second editor's save is refused instead of
silently overwriting the first one's (used by every ProjectScopedAdmin)."""

from __future__ import annotations

from django import forms

from labbook.projects.models import changes_since


class VersionedModelForm(forms.ModelForm):
    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["expected_version"].initial = self.instance.version

    def clean(self):
        cleaned = super().clean()
        expected = cleaned.get("expected_version")
        if self.instance.pk is None or expected is None:
            return cleaned
        model = type(self.instance)
        current = model._base_manager.filter(pk=self.instance.pk).first()
        if current is not None and current.version != expected:
            changes = changes_since(current, expected)
            fields = (
                ", ".join(str(model._meta.get_field(name).verbose_name) for name in sorted(changes))
                or "no field values"
            )
            raise forms.ValidationError(
                f"Someone else saved this {model._meta.verbose_name} while you were editing it "
                f"(version {expected}, now {current.version}); they changed: {fields}. "
                "Nothing was saved: reload the page and apply your changes again.",
                code="conflict",
            )
        # the save below is a conditional UPDATE on this version (ProjectRecord._do_update)
        self.instance.version = expected
        return cleaned
