"""What the entry page shows of each attached file: a thumbnail (images, a TIFF movie's first
frame, a PDF's first page, served by ``files:raw-preview``), a small Bokeh plot of a CSV table, the
first lines of a text file, or a download link only (labbook.files.attachments makes them)."""

from __future__ import annotations

from dataclasses import dataclass

from bokeh.models import ColumnDataSource
from bokeh.palettes import Category10_10
from bokeh.plotting import figure

from labbook.files.attachments import NoPreview, csv_columns, preview_kind, text_head, thumbnail_png
from labbook.files.models import RawFile
from labbook.pages.plots import embed

#: at most this many y columns of a CSV are drawn (against its first numeric column)
CSV_MAX_LINES = 6


@dataclass
class Preview:
    raw: RawFile
    kind: str | None  # "image", "pdf", "csv", "text" or None
    thumbnail: bool = False  # files:raw-preview has a thumbnail for it (made here, kept in storage)
    plot: dict | None = None  # {"script", "div"} of a CSV's figure
    text: str = ""
    problem: str = ""  # why there is no preview


def csv_figure(raw: RawFile):
    """The first numeric column against the next ones (at most :data:`CSV_MAX_LINES`)."""
    names, data = csv_columns(raw)
    p = figure(title=raw.original_name, width=460, height=280, tools="pan,wheel_zoom,box_zoom,reset,save")
    p.toolbar.logo = None
    p.title.text_font_size = "12px"
    p.xaxis.axis_label = names[0]
    source = ColumnDataSource({f"c{j}": data[:, j] for j in range(data.shape[1])})
    for j in range(1, min(data.shape[1], CSV_MAX_LINES + 1)):
        p.line("c0", f"c{j}", source=source, color=Category10_10[(j - 1) % 10], legend_label=names[j])
    if data.shape[1] == 2:
        p.yaxis.axis_label = names[1]
    p.legend.location = "top_right"
    p.legend.label_text_font_size = "10px"
    p.legend.click_policy = "hide"
    return p


def previews_for(raws) -> list[Preview]:
    out = []
    for raw in raws:
        preview = Preview(raw=raw, kind=preview_kind(raw.media_type))
        try:
            if preview.kind in ("image", "pdf"):
                thumbnail_png(raw)  # made once per content; a bomb or a broken file says why here
                preview.thumbnail = True
            elif preview.kind == "csv":
                preview.plot = embed(csv_figure(raw))
            elif preview.kind == "text":
                preview.text = text_head(raw)
        except NoPreview as exc:
            preview.problem = str(exc)
        except OSError as exc:  # stored bytes missing: the download says more
            preview.problem = f"cannot read it ({exc.__class__.__name__})"
        out.append(preview)
    return out
