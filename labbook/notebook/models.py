"""Free-text notebook entries in Markdown, linked to any record."""

import markdown as md
from django.conf import settings
from django.db import models
from django.utils.safestring import mark_safe
from simple_history.models import HistoricalRecords

from labbook.projects.models import ProjectRecord


def render_markdown(text: str) -> str:
    """Markdown to HTML with raw HTML disabled (entries are shown to every project member)."""
    converter = md.Markdown(extensions=["tables", "fenced_code", "sane_lists"], output_format="html")
    converter.preprocessors.deregister("html_block")
    converter.inlinePatterns.deregister("html")
    return converter.convert(text)


class NotebookEntry(ProjectRecord):
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, help_text="Markdown")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="notebook_entries",
    )
    batches = models.ManyToManyField("synthesis.Synthesis", blank=True, related_name="entries")
    treatments = models.ManyToManyField("synthesis.PostTreatment", blank=True, related_name="entries")
    samples = models.ManyToManyField("synthesis.Sample", blank=True, related_name="entries")
    chemicals = models.ManyToManyField("synthesis.Chemical", blank=True, related_name="entries")
    runs = models.ManyToManyField("characterization.CharacterizationRun", blank=True, related_name="entries")
    devices = models.ManyToManyField("devices.Device", blank=True, related_name="entries")
    measurements = models.ManyToManyField("devices.DeviceMeasurement", blank=True, related_name="entries")
    raw_files = models.ManyToManyField("files.RawFile", blank=True, related_name="entries")

    history = HistoricalRecords(
        m2m_fields=[batches, treatments, samples, chemicals, runs, devices, measurements, raw_files]
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "notebook entries"

    def __str__(self) -> str:
        return self.title

    def body_html(self) -> str:
        return mark_safe(render_markdown(self.body))  # noqa: S308 - raw HTML is disabled in render_markdown
