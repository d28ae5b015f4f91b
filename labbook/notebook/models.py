"""Free-text notebook entries in Markdown, linked to any record."""

import markdown as md
import nh3
from django.conf import settings
from django.db import models
from django.utils.safestring import mark_safe
from simple_history.models import HistoricalRecords

from labbook.projects.models import ProjectRecord

#: what rendered Markdown may contain: the tags Markdown itself produces, nothing that runs
MARKDOWN_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em", "h1", "h2",
    "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "li", "ol", "p", "pre", "s", "span", "strong",
    "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
MARKDOWN_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "td": {"align"},
    "th": {"align"},
    "code": {"class"},  # fenced code's language-xxx
}
#: link and image targets: web, mail and relative links; never javascript:, data:, vbscript:, ...
MARKDOWN_URL_SCHEMES = {"http", "https", "mailto"}


def sanitize_html(html: str) -> str:
    """Keep only the allow-listed tags, attributes and URL schemes of ``html`` (nh3, i.e. ammonia:
    a maintained HTML sanitiser, rather than our own regexes)."""
    return nh3.clean(
        html,
        tags=MARKDOWN_TAGS,
        attributes=MARKDOWN_ATTRIBUTES,
        url_schemes=MARKDOWN_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


#: Python-Markdown's extensions for every rendered text (entries on pages, in the API, the admin, print)
MARKDOWN_EXTENSIONS = ["tables", "fenced_code", "sane_lists", "pymdownx.tilde", "pymdownx.caret"]


def render_markdown(text: str) -> str:
    """Markdown to safe HTML (entries are shown to every project member, and come from imports).

    Chemists' sub- and superscripts come from pymdown-extensions (``pymdownx.tilde``: ``CH~3~NH~3~PbI~3~``
    gives subscripts, ``~~text~~`` strikes through; ``pymdownx.caret``: ``x^2^`` a superscript,
    ``^^text^^`` inserted text), a maintained extension rather than our own regex.

    Raw HTML is disabled in the converter, and its output is sanitised with an allow-list, because
    Markdown's own links and images (``[a](javascript:...)``, reference definitions) carry any URL.
    """
    converter = md.Markdown(extensions=MARKDOWN_EXTENSIONS, output_format="html")
    converter.preprocessors.deregister("html_block")
    converter.inlinePatterns.deregister("html")
    return sanitize_html(converter.convert(text))


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
    #: an entry's files are attachments (images, PDF, tables; labbook.files.services.raw_files_attach)
    RAW_FILES_ARE_ATTACHMENTS = True

    history = HistoricalRecords(
        m2m_fields=[batches, treatments, samples, chemicals, runs, devices, measurements, raw_files]
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "notebook entries"

    def __str__(self) -> str:
        return self.title

    def body_html(self) -> str:
        return mark_safe(render_markdown(self.body))  # noqa: S308 - sanitised by render_markdown
