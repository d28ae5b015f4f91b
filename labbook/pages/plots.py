"""Bokeh figures for the pages: the treatment comparison, a particle, a run, a device, a batch's lineage.

Every figure is built from database rows (result rows, the :func:`~labbook.results.selectors.
treatment_comparison` selector, stored artifacts) and from the raw instrument files read by
``analysis.readers``; curves that are fits are drawn from the fitted parameters with the analysis
package's own functions. Axes carry units. BokehJS is served from the installed package (see
``templates/base.html``), so the pages need no network.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from bokeh.embed import components
from bokeh.layouts import column, row
from bokeh.models import (
    ColorBar,
    ColumnDataSource,
    HoverTool,
    Label,
    LabelSet,
    LinearColorMapper,
    OpenURL,
    Range1d,
    Span,
    TapTool,
    Whisker,
)
from bokeh.palettes import Category10_10, RdBu11
from bokeh.plotting import figure
from django.core.files.storage import default_storage

from analysis.blinking.fits import dwell_density

PALETTE = list(Category10_10)
CLASS_COLOURS = {
    "BB": "#1b9e77",
    "BBB": "#66a61e",
    "MSB": "#7570b3",
    "PEB": "#d95f02",
    "qTSB/mostly-on": "#e7298a",
    "qTSB/intermediate": "#e6ab02",
    "qTSB/mostly-off": "#666666",
}
MAPBCL3_DEG = 15.6  # MAPbCl3 (100): the paper's sign of over-treatment
MAPBI3_DEG = 14.1  # MAPbI3 (110)
TOOLS = "pan,wheel_zoom,box_zoom,reset,save"
W, H = 560, 360


def embed(obj) -> dict:
    """``{"script", "div"}`` for a template (BokehJS itself comes from static files).

    The script is bare JavaScript: templates wrap it in ``<script nonce="{{ csp_nonce }}">`` (the
    Content-Security-Policy runs inline scripts only with the request's nonce)."""
    script, div = components(obj, wrap_script=False)
    return {"script": script, "div": div}


def _fig(title: str, x_label: str, y_label: str, **kw):
    p = figure(
        title=title, width=kw.pop("width", W), height=kw.pop("height", H), tools=kw.pop("tools", TOOLS), **kw
    )
    p.xaxis.axis_label = x_label
    p.yaxis.axis_label = y_label
    p.title.text_font_size = "13px"
    p.toolbar.logo = None
    return p


def _legend(p, location="top_right"):
    """Legend inside at ``location``, or below the plot with ``location="below"``."""
    if p.legend:
        if location == "below":
            legend = p.legend[0]
            p.add_layout(legend, "below")
            p.height += 22 * len(legend.items)
        else:
            p.legend.location = location
        p.legend.click_policy = "hide"
        p.legend.label_text_font_size = "11px"
        p.legend.background_fill_alpha = 0.7


def _message(title: str, text: str):
    p = _fig(title, "", "", tools="")
    p.add_layout(Label(x=20, y=H / 2 - 40, x_units="screen", y_units="screen", text=text, text_color="#777"))
    p.axis.visible = False
    p.grid.visible = False
    return p


# --- raw files --------------------------------------------------------------------------------
@contextlib.contextmanager
def local_files() -> Iterator:
    """``path_of(raw_file)``: a local path with the original extension (readers dispatch on it)."""
    tmpdir = Path(tempfile.mkdtemp(prefix="labbook-pages-"))
    counter = iter(range(1_000_000))

    def path_of(raw) -> Path:
        suffix = Path(raw.original_name).suffix
        try:
            stored = Path(default_storage.path(raw.storage_name))
            target = tmpdir / f"{next(counter)}{suffix}"
            target.symlink_to(stored)
        except NotImplementedError:  # remote storage: copy it here
            target = tmpdir / f"{next(counter)}{suffix}"
            with default_storage.open(raw.storage_name, "rb") as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)
        return target

    try:
        yield path_of
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _inputs(job) -> dict:
    """Role -> RawFile of a job (uses a prefetched ``inputs`` when there is one)."""
    return {i.role: i.raw_file for i in job.inputs.all()}


# --- fits ---------------------------------------------------------------------------------------
def truncated_power_law_curve(
    alpha: float, mu_per_s: float, *, t_min_s: float, t_max_s: float, bin_time_s: float, weight: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """P(t) = A t^-alpha exp(-mu t) on [t_min, t_max], normalised over the discrete support
    t_k = k * bin_time (as the ML fit is) and scaled by ``weight`` (the share of dwells >= t_min),
    so it overlays a density normalised by all dwells."""
    k = np.arange(max(1, round(t_min_s / bin_time_s)), max(2, round(t_max_s / bin_time_s)) + 1)
    t_k = k * bin_time_s
    shape = t_k ** (-alpha) * np.exp(-mu_per_s * t_k)
    norm = shape.sum() * bin_time_s
    t = np.geomspace(t_k[0], t_k[-1], 200)
    return t, weight * t ** (-alpha) * np.exp(-mu_per_s * t) / norm


def _fmt(x, digits=2) -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}f}"


# --- treatment comparison -------------------------------------------------------------------------
def treatment_label(t) -> str:
    if t is None:
        return "untreated"
    if t.cl_to_i is not None:
        return f"{t.code} ({t.cl_to_i.to('percent').magnitude:.3g} % Cl:I)"
    return t.code


def dwell_figure(which: str, series: list[dict]):
    """ON or OFF dwell-time densities (Kuno), log-log, one colour per treatment, with the population
    ML fit (truncated power law) and alpha +/- its standard error in the legend."""
    p = _fig(
        f"{which.upper()} dwell-time densities with truncated power-law fits",
        f"{which.upper()} time t (s)",
        "probability density P(t) (1/s)",
        x_axis_type="log",
        y_axis_type="log",
    )
    drawn, hovered = False, []
    for s in series:
        dwells = np.asarray(s[f"{which}_dwell_s"], dtype=float)
        if dwells.size == 0:
            continue
        t, dens = dwell_density(dwells, method="kuno")
        fit = s["fits"][which]
        name = f"{s['label']}: α = {_fmt(fit.get('alpha'))} ± {_fmt(fit.get('alpha_err'))}"
        src = ColumnDataSource({"t": t, "p": dens, "label": [s["label"]] * len(t)})
        hovered.append(
            p.scatter("t", "p", source=src, color=s["colour"], size=5, alpha=0.6, legend_label=name)
        )
        if fit.get("alpha") is not None and fit.get("mu_per_s") is not None and s["bin_time_s"]:
            t_min = fit.get("t_min_s") or s["bin_time_s"]
            weight = float(np.mean(dwells >= t_min - 1e-12))
            tc, pc = truncated_power_law_curve(
                fit["alpha"],
                fit["mu_per_s"],
                t_min_s=t_min,
                t_max_s=float(dwells.max()),
                bin_time_s=s["bin_time_s"],
                weight=weight,
            )
            p.line(tc, pc, color=s["colour"], line_width=2, legend_label=name)
        drawn = True
    if not drawn:
        return _message(p.title.text, "no blinking results for these treatments")
    p.add_tools(
        HoverTool(
            renderers=hovered, tooltips=[("treatment", "@label"), ("t", "@t{0.00} s"), ("P", "@p{0.000e}")]
        )
    )
    _legend(p, "bottom_left")
    return p


def alpha_figure(series: list[dict]):
    """Population alpha_on and alpha_off (ML fit, +/- standard error) against Cl:I."""
    rows = [s for s in series if s["fits"]["on"].get("alpha") is not None]
    if not rows:
        return _message("Power-law exponents", "no blinking fits")
    x = [s["cl_percent"] if s["cl_percent"] is not None else 0.0 for s in rows]
    p = _fig("Power-law exponents of the population fits", "Cl:I (mol %)", "α (dimensionless)")
    for which, colour, marker, dx in (("on", "#1f77b4", "circle", -0.15), ("off", "#d62728", "square", 0.15)):
        a = np.array([s["fits"][which].get("alpha") or np.nan for s in rows], dtype=float)
        e = np.array([s["fits"][which].get("alpha_err") or 0.0 for s in rows], dtype=float)
        src = ColumnDataSource(
            {"x": np.array(x) + dx, "a": a, "lo": a - e, "hi": a + e, "label": [s["label"] for s in rows]}
        )
        r = p.scatter("x", "a", source=src, marker=marker, size=9, color=colour, legend_label=f"α_{which}")
        p.add_layout(Whisker(source=src, base="x", lower="lo", upper="hi", line_color=colour))
        p.add_tools(
            HoverTool(
                renderers=[r],
                tooltips=[("treatment", "@label"), (f"α_{which}", "@a{0.000} (@lo{0.000}–@hi{0.000})")],
            )
        )
    _legend(p, "below")
    p.legend.orientation = "horizontal"
    p.height = H
    p.x_range = Range1d(min(x) - 1.5, max(x) + 1.5)
    return p


def class_figure(series: list[dict], classes: list[str]):
    """Class composition (share of particles, %) as stacked bars per treatment."""
    rows = [s for s in series if s["class_counts"]]
    if not rows:
        return _message("Trace classes", "no particles")
    labels = [s["short"] for s in rows]
    data = {"treatment": labels, "n": [sum(s["class_counts"].values()) for s in rows]}
    for c in classes:
        data[c] = [100 * s["class_counts"].get(c, 0) / max(1, sum(s["class_counts"].values())) for s in rows]
        data[f"{c} n"] = [s["class_counts"].get(c, 0) for s in rows]
    p = _fig("Trace classes (share of particles)", "treatment", "share of particles (%)", x_range=labels)
    renderers = p.vbar_stack(
        classes,
        x="treatment",
        width=0.7,
        source=ColumnDataSource(data),
        color=[CLASS_COLOURS[c] for c in classes],
        legend_label=classes,
    )
    p.add_tools(
        HoverTool(
            renderers=renderers,
            tooltips=[
                ("treatment", "@treatment (@n particles)"),
                ("class", "$name"),
                ("share", "@$name{0.0} %"),
            ],
        )
    )
    p.y_range = Range1d(0, 100)
    p.add_layout(p.legend[0], "right")
    p.width = W + 120
    p.legend.click_policy = "hide"
    p.legend.label_text_font_size = "11px"
    return p


def particle_figures(particles: list[dict], colours: dict, labels: dict):
    """Mean correlation against crystal size, and alpha_on against alpha_off, sharing one source so
    a selection in either highlights the same particles (a tap opens the particle's page)."""
    src = ColumnDataSource(
        {
            "edge": [p["edge_um"] for p in particles],
            "corr": [p["correlation_mean"] for p in particles],
            "a_on": [p["alpha_on"] for p in particles],
            "a_off": [p["alpha_off"] for p in particles],
            "cls": [p["class_label"] for p in particles],
            "treatment": [labels[p["treatment_id"]] for p in particles],
            "colour": [colours[p["treatment_id"]] for p in particles],
            "url": [p["url"] for p in particles],
            "name": [p["name"] for p in particles],
        }
    )
    tools = TOOLS + ",box_select,lasso_select,tap"
    tips = [("particle", "@name"), ("treatment", "@treatment"), ("class", "@cls"), ("edge", "@edge{0.00} µm"),
            ("correlation", "@corr{0.000}"), ("α_on / α_off", "@a_on{0.00} / @a_off{0.00}")]  # fmt: skip
    p1 = _fig(
        "Mean pixel correlation against crystal size",
        "edge length (µm)",
        "mean correlation coefficient r",
        tools=tools,
    )
    p2 = _fig("Per-particle power-law exponents (select to link)", "α_on", "α_off", tools=tools)
    for p, x, y in ((p1, "edge", "corr"), (p2, "a_on", "a_off")):
        r = p.scatter(x, y, source=src, color="colour", size=8, alpha=0.75, legend_field="treatment",
                      nonselection_alpha=0.12, selection_line_color="black")  # fmt: skip
        p.add_tools(HoverTool(renderers=[r], tooltips=tips))
        p.select_one(TapTool).callback = OpenURL(url="@url")
        _legend(p, "bottom_right")
    return p1, p2


def decay_figure(decays: list[dict]):
    """TRPL decays (normalised to the peak of the data) with the fitted model, log scale."""
    if not decays:
        return _message("TRPL decays", "no lifetime fits for these treatments")
    p = _fig("TRPL decays with multi-exponential fits", "time t (ns)", "normalised counts", y_axis_type="log")
    for d in decays:
        t, counts, model = d["time_ns"], d["counts"], d["model"]
        peak = max(float(np.max(counts)), 1.0)
        keep = counts > 0
        name = f"{d['label']}: ⟨τ⟩_int = {_fmt(d['tau_int'], 1)} ns, ⟨τ⟩_amp = {_fmt(d['tau_amp'], 1)} ns"
        p.scatter(t[keep], counts[keep] / peak, size=2, color=d["colour"], alpha=0.35, legend_label=name)
        if model is not None:
            m = model > 0
            fit_colour = "black" if len(decays) == 1 else d["colour"]
            p.line(t[m], model[m] / peak, color=fit_colour, line_width=1.5, legend_label=name)
    p.y_range = Range1d(1e-4, 1.5)
    _legend(p, "below")
    return p


def spectra_figure(kind: str, spectra: list[dict]):
    title = "PL spectra (normalised)" if kind == "pl" else "Absorption spectra"
    if not spectra:
        return _message(title, f"no {kind.upper()} spectra")
    y_label = "normalised PL intensity" if kind == "pl" else "absorbance (normalised at the maximum)"
    p = _fig(title, "wavelength λ (nm)", y_label)
    lines = []
    for s in spectra:
        y = s["intensity"] / max(float(np.nanmax(s["intensity"])), 1e-30)
        extra = ""
        if kind == "pl" and s.get("peak_nm"):
            extra = f", peak {s['peak_nm']:.0f} nm"
        elif kind == "abs" and s.get("band_gap_ev"):
            extra = f", Eg {s['band_gap_ev']:.3f} eV"
        name = f"{s['label']}{extra}"
        lines.append(
            p.line(s["wavelength_nm"], y, color=s["colour"], line_width=2, legend_label=name, name=s["label"])
        )
        if kind == "pl" and s.get("peak_nm"):
            p.add_layout(
                Span(location=s["peak_nm"], dimension="height", line_color=s["colour"], line_dash="dotted")
            )
    p.add_tools(
        HoverTool(renderers=lines, tooltips=[("treatment", "$name"), ("λ", "$x{0} nm"), ("I", "$y{0.000}")])
    )
    _legend(p, "top_right")
    return p


def xrd_figure(patterns: list[dict]):
    """XRD patterns, each normalised to its highest peak and offset, with the MAPbCl3 15.6 deg marker."""
    if not patterns:
        return _message("XRD", "no XRD scans")
    p = _fig(
        "XRD patterns (normalised, offset)", "2θ (deg, Cu Kα)", "normalised intensity + offset", height=H + 60
    )
    for i, x in enumerate(patterns):
        y = x["intensity"] / max(float(np.nanmax(x["intensity"])), 1e-30) + 1.1 * i
        flag = " · MAPbCl3 detected" if x["mapbcl3"] else ""
        p.line(x["two_theta_deg"], y, color=x["colour"], line_width=1.5, legend_label=f"{x['label']}{flag}")
    p.add_layout(
        Span(
            location=MAPBCL3_DEG, dimension="height", line_color="#d62728", line_dash="dashed", line_width=1.5
        )
    )
    p.add_layout(Span(location=MAPBI3_DEG, dimension="height", line_color="#999", line_dash="dotted"))
    top = 1.1 * len(patterns) + 0.2
    p.add_layout(
        Label(
            x=MAPBCL3_DEG + 0.15,
            y=top - 0.25,
            text="MAPbCl3 (100) 15.6°",
            text_color="#d62728",
            text_font_size="11px",
        )
    )
    p.add_layout(
        Label(
            x=MAPBI3_DEG - 0.15,
            y=top - 0.25,
            text="MAPbI3 (110)",
            text_color="#777",
            text_font_size="11px",
            text_align="right",
        )
    )
    p.y_range = Range1d(-0.05, top + 0.1)
    _legend(p, "below")
    return p


def iv_figure(curves: list[dict]):
    """Photodetector I-V sweeps: |I| on a log scale, dark dashed and illuminated solid."""
    if not curves:
        return _message("Photodetector I-V", "no I-V sweeps")
    p = _fig(
        "Photodetector I-V (dark dashed, illuminated solid)", "bias V (V)", "|current| (A)", y_axis_type="log"
    )
    for c in curves:
        for key, dash, what in (("dark", "dashed", "dark"), ("light", "solid", "light")):
            y = c.get(key)
            if y is None:
                continue
            y = np.abs(np.asarray(y, dtype=float))
            m = y > 0
            p.line(
                c["voltage_V"][m],
                y[m],
                color=c["colour"],
                line_dash=dash,
                line_width=2,
                legend_label=f"{c['label']} {what}",
            )
    _legend(p, "below")
    return p


def photoresponse_figure(curves: list[dict]):
    if not curves:
        return _message("Photoresponse", "no photoresponse measurements")
    p = _fig("Photoresponse (light on/off cycles)", "time t (s)", "current I (nA)")
    for c in curves:
        extra = ""
        if c.get("rise_s") is not None:
            extra = f", rise {c['rise_s'] * 1e3:.0f} ms / fall {c['fall_s'] * 1e3:.0f} ms"
        p.line(
            c["time_s"],
            c["current_A"] * 1e9,
            color=c["colour"],
            line_width=1.5,
            legend_label=f"{c['label']}{extra}",
        )
    _legend(p, "top_right")
    return p


def comparison_layout(data: dict):
    """All comparison figures, in a grid (one Bokeh document: linked selection works across it)."""
    series, particles = data["series"], data["particles"]
    colours = {s["treatment_id"]: s["colour"] for s in series}
    labels = {s["treatment_id"]: s["short"] for s in series}
    p_corr, p_alpha = particle_figures(particles, colours, labels)
    figures = {
        "dwell_on": dwell_figure("on", series),
        "dwell_off": dwell_figure("off", series),
        "alpha": alpha_figure(series),
        "classes": class_figure(series, data["classes"]),
        "correlation": p_corr,
        "particle_alpha": p_alpha,
        "trpl": decay_figure(data["decays"]),
        "pl": spectra_figure("pl", data["spectra"]["pl"]),
        "abs": spectra_figure("abs", data["spectra"]["abs"]),
        "xrd": xrd_figure(data["xrd"]),
        "iv": iv_figure(data["iv"]),
        "photoresponse": photoresponse_figure(data["photoresponse"]),
    }
    return figures


# --- one particle -------------------------------------------------------------------------------
def particle_layout(*, particle, trace, states, bin_time_s: float, corr_map, method: str):
    """Trace with threshold and ON/OFF segmentation, intensity histogram, dwell densities with the
    particle's fits, and the correlation map around it."""
    t = np.arange(trace.size) * bin_time_s
    on = states.astype(bool)
    src = ColumnDataSource({"t": t, "i": trace, "state": np.where(on, "ON", "OFF")})
    p_tr = _fig(
        f"Trace of particle {particle.index}: ON/OFF by {method} at {_fmt(particle.threshold, 0)} counts/frame",
        "time t (s)",
        "intensity (background-subtracted counts per frame)",
        width=820,
        height=300,
    )
    # ON segments shaded behind the trace
    edges = np.flatnonzero(np.diff(np.r_[0, on.astype(int), 0]))
    starts, stops = edges[0::2], edges[1::2]
    if starts.size:
        p_tr.quad(left=starts * bin_time_s, right=stops * bin_time_s, bottom=float(trace.min()), top=float(trace.max()),
                  color="#ffd54f", alpha=0.25, line_alpha=0, legend_label="ON")  # fmt: skip
    r = p_tr.line("t", "i", source=src, color="#333", line_width=1, legend_label="trace")
    p_tr.add_tools(
        HoverTool(
            renderers=[r], tooltips=[("t", "@t{0.00} s"), ("I", "@i{0}"), ("state", "@state")], mode="vline"
        )
    )
    if particle.threshold is not None:
        p_tr.line(
            [0, float(t[-1])],
            [particle.threshold, particle.threshold],
            color="#d62728",
            line_dash="dashed",
            line_width=2,
            legend_label="threshold",
        )
    _legend(p_tr, "top_right")

    hist, hedges = np.histogram(trace, bins=60)
    p_h = _fig(
        "Intensity histogram",
        "frames",
        "intensity (counts per frame)",
        width=300,
        height=300,
        y_range=p_tr.y_range,
    )
    p_h.quad(left=0, right=hist, bottom=hedges[:-1], top=hedges[1:], color="#607d8b", alpha=0.8)
    if particle.threshold is not None:
        p_h.add_layout(
            Span(
                location=particle.threshold,
                dimension="width",
                line_color="#d62728",
                line_dash="dashed",
                line_width=2,
            )
        )

    p_d = _fig("Dwell-time densities with the particle's fits", "dwell time t (s)", "probability density P(t) (1/s)",
               x_axis_type="log", y_axis_type="log", width=560, height=380)  # fmt: skip
    for which, colour in (("on", "#1f77b4"), ("off", "#d62728")):
        dwells = np.asarray(getattr(particle, f"{which}_dwell_s") or [], dtype=float)
        if dwells.size == 0:
            continue
        alpha = getattr(particle, f"alpha_{which}")
        err = getattr(particle, f"alpha_{which}_err")
        mu = getattr(particle, f"mu_{which}")
        name = f"{which.upper()}: α = {_fmt(alpha)} ± {_fmt(err)} (n = {dwells.size})"
        td, pd = dwell_density(dwells, method="kuno")
        p_d.scatter(td, pd, color=colour, size=6, alpha=0.7, legend_label=name)
        if alpha is not None and mu is not None:
            mu_s = float(mu.to("1/s").magnitude)
            tc, pc = truncated_power_law_curve(
                alpha, mu_s, t_min_s=bin_time_s, t_max_s=float(dwells.max()), bin_time_s=bin_time_s
            )
            p_d.line(tc, pc, color=colour, line_width=2, legend_label=name)
    _legend(p_d, "bottom_left")

    if corr_map is not None:
        cy, cx = particle.centroid_y_px, particle.centroid_x_px
        half = 12
        y0, y1 = max(0, int(cy) - half), min(corr_map.shape[0], int(cy) + half + 1)
        x0, x1 = max(0, int(cx) - half), min(corr_map.shape[1], int(cx) + half + 1)
        crop = np.asarray(corr_map[y0:y1, x0:x1], dtype=float)  # NaN: pixel outside the particle's region
        mapper = LinearColorMapper(palette=list(reversed(RdBu11)), low=-1, high=1, nan_color="#d9d9d9")
        # image rows go down the screen: a reversed y range, row 0 (y = y0) at the top
        p_c = _fig(
            "Pixel correlation with the particle's mean trace (grey: not computed)",
            "x (px)",
            "y (px)",
            width=440,
            height=380,
            x_range=Range1d(x0, x1),
            y_range=Range1d(y1, y0),
        )
        p_c.image(image=[crop], x=x0, y=y0, dw=x1 - x0, dh=y1 - y0, color_mapper=mapper)
        p_c.scatter([cx + 0.5], [cy + 0.5], marker="cross", size=14, color="black", line_width=2)
        p_c.add_layout(ColorBar(color_mapper=mapper, title="r"), "right")
    else:
        p_c = _message("Pixel correlation", "no correlation map stored")
    return column(row(p_tr, p_h), row(p_d, p_c))


# --- a run, a device, a batch -----------------------------------------------------------------------
def run_figure(run, results: dict):
    """The raw data of a run with its analysis: a decay with its fit, a spectrum, an XRD scan, or a
    blinking run's dwell densities and correlation against size."""
    from labbook.pages import comparison

    with local_files() as path_of:
        files = list(run.raw_files.all())
        if results.get("lifetime") is not None:
            d = comparison.decay_curve(results["lifetime"], path_of, label=run.code, colour=PALETTE[0])
            return decay_figure([d]) if d else None
        if results.get("spectra"):
            s = results["spectra"][0]
            raw = _inputs(s.job).get("data")
            curve = (
                comparison.spectrum_curve(s, raw, path_of, label=run.code, colour=PALETTE[0]) if raw else None
            )
            return spectra_figure(s.spectrum_kind, [curve]) if curve else None
        if results.get("xrd") is not None:
            x = results["xrd"]
            raw = _inputs(x.job).get("data")
            curve = comparison.xrd_curve(x, raw, path_of, label=run.code, colour=PALETTE[0]) if raw else None
            return xrd_figure([curve]) if curve else None
        if results.get("blinking") is not None:
            b = results["blinking"]
            parts = list(results["particles"])
            fits = comparison.population_fits(b)
            s = {
                "label": run.code,
                "colour": PALETTE[0],
                "on_dwell_s": [x for p in parts for x in p.on_dwell_s],
                "off_dwell_s": [x for p in parts for x in p.off_dwell_s],
                "fits": fits,
                "bin_time_s": float(b.bin_time.to("s").magnitude),
            }
            return row(dwell_figure("on", [s]), dwell_figure("off", [s]))
        del files
    return None


def device_figure(measurements: list, *, title: str):
    from labbook.pages import comparison

    iv, pr = [], []
    with local_files() as path_of:
        for m in measurements:
            raws = list(m.raw_files.all())
            if not raws:
                continue
            metrics = next(iter(m.metrics.all()), None)
            c = comparison.electrical_curve(m, raws[0], metrics, path_of, label=title, colour=PALETTE[0])
            if c is None:
                continue
            if m.kind == "photoresponse":
                pr.append(c)
            elif not any(x["label"] == c["label"] for x in iv):
                iv.append(c)
    if not iv and not pr:
        return None
    return row(iv_figure(iv), photoresponse_figure(pr))


def lineage_figure(lineage: dict):
    """A batch's lineage as a layered graph: parents left, children right, edges with the fraction taken."""
    nodes: dict[int, dict] = {}
    edges: list[tuple[int, int, float]] = []
    me = lineage["batch"]
    nodes[me.pk] = {"batch": me, "level": 0}

    def walk_up(items, child_pk, level):
        for it in items:
            b = it["batch"]
            nodes.setdefault(b.pk, {"batch": b, "level": level})
            edges.append((b.pk, child_pk, it["fraction"]))
            walk_up(it["parents"], b.pk, level - 1)

    def walk_down(items, parent_pk, level):
        for it in items:
            b = it["batch"]
            nodes.setdefault(b.pk, {"batch": b, "level": level})
            edges.append((parent_pk, b.pk, it["fraction"]))
            walk_down(it["children"], b.pk, level + 1)

    walk_up(lineage["parents"], me.pk, -1)
    walk_down(lineage["children"], me.pk, 1)
    by_level = defaultdict(list)
    for pk, n in sorted(nodes.items(), key=lambda kv: kv[1]["batch"].code):
        by_level[n["level"]].append(pk)
    for level, pks in by_level.items():
        for i, pk in enumerate(pks):
            nodes[pk]["x"] = level
            nodes[pk]["y"] = i - (len(pks) - 1) / 2
    levels = sorted(by_level)
    height = max(160, 46 * max(len(v) for v in by_level.values()) + 60)
    p = figure(width=760, height=height, tools="tap", toolbar_location=None,
               x_range=(levels[0] - 0.6, levels[-1] + 0.6), title="Lineage (left: made from; right: made into)")  # fmt: skip
    p.axis.visible = False
    p.grid.visible = False
    p.outline_line_color = None
    seen = set()
    ex0, ey0, ex1, ey1, lx, ly, lt = [], [], [], [], [], [], []
    for a, b, f in edges:
        if (a, b) in seen:
            continue
        seen.add((a, b))
        ex0.append(nodes[a]["x"] + 0.22)
        ey0.append(nodes[a]["y"])
        ex1.append(nodes[b]["x"] - 0.22)
        ey1.append(nodes[b]["y"])
        lx.append((nodes[a]["x"] + nodes[b]["x"]) / 2)
        ly.append((nodes[a]["y"] + nodes[b]["y"]) / 2)
        lt.append(f"{100 * f:.3g} %")
    p.segment(ex0, ey0, ex1, ey1, color="#999", line_width=1.5)
    p.add_layout(LabelSet(x="x", y="y", text="t", source=ColumnDataSource({"x": lx, "y": ly, "t": lt}),
                          text_font_size="10px", text_color="#555", text_align="center", y_offset=2))  # fmt: skip
    from django.urls import reverse

    ns = ColumnDataSource(
        {
            "x": [n["x"] for n in nodes.values()],
            "y": [n["y"] for n in nodes.values()],
            "code": [n["batch"].code for n in nodes.values()],
            "kind": [n["batch"].get_kind_display() for n in nodes.values()],
            "colour": ["#ff7f0e" if pk == me.pk else "#1f77b4" for pk in nodes],
            "url": [reverse("synthesis:batch-detail", args=[pk]) for pk in nodes],
        }
    )
    r = p.rect(
        "x", "y", width=0.42, height=0.7, source=ns, fill_color="colour", fill_alpha=0.15, line_color="colour"
    )
    p.add_layout(
        LabelSet(
            x="x",
            y="y",
            text="code",
            source=ns,
            text_align="center",
            text_baseline="middle",
            text_font_size="11px",
        )
    )
    p.add_tools(HoverTool(renderers=[r], tooltips=[("batch", "@code"), ("kind", "@kind")]))
    p.select_one(TapTool).callback = OpenURL(url="@url")
    p.y_range = Range1d(min(n["y"] for n in nodes.values()) - 0.7, max(n["y"] for n in nodes.values()) + 0.7)
    return p
