"""Bokeh figures for the pages: the treatment comparison, a particle, a run, a device, a batch's lineage.

Every figure is drawn from what the jobs stored (result rows, particle summaries, result curves,
artifacts; gathered in :mod:`labbook.pages.comparison`): no raw instrument file is read and nothing
is fitted in a request. A result whose curve was not stored says so ("not computed yet") instead of
vanishing from its figure. Axes carry units. Legends sit outside the data (below or right of the
plot), their treatments in the order of Cl:I (0, 3.42, 8.55, 17.1 %), not of their labels' text. BokehJS is served from the installed package (see
``templates/bokeh_js.html``), so the pages need no network.

The comparison's figures are plain JSON specs (:func:`comparison_specs`) drawn in the browser by
``static/pages/figures.js``; building a dozen Bokeh documents in the request took 2-3 s of server
time, the specs take milliseconds. The run and device pages draw the same specs here
(:func:`render`); the particle page and the lineage are built with Bokeh directly.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict

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

from labbook.results.summaries import dwell_counts, kuno_density, truncated_power_law_curve

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


def _legend(p, location="below"):
    """The legend outside the data: below the plot (``"below"``; ``"below_horizontal"`` in one
    row), or right of it (``"right"``); an inside ``location`` ("top_right") only where asked."""
    if p.legend:
        legend = p.legend[0]
        if location in ("below", "below_horizontal", "right"):
            p.center = [m for m in p.center if m is not legend]
            p.add_layout(legend, "right" if location == "right" else "below")
            if location == "below":
                p.height += 22 * len(legend.items)
            elif location == "below_horizontal":
                legend.orientation = "horizontal"
                p.height += 30
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


#: what a figure says for a result whose curve was not stored
NOT_COMPUTED = "not computed yet (manage.py summarise_results)"


def _not_computed_note(p, text: str) -> None:
    p.add_layout(Label(x=8, y=8, x_units="screen", y_units="screen", text=text, text_color="#b00",
                       text_font_size="11px", background_fill_color="white", background_fill_alpha=0.8))  # fmt: skip


def _fmt(x, digits=2) -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}f}"


# --- treatment comparison -------------------------------------------------------------------------
# Each figure is described once, as a plain JSON-able spec (title, axes, ranges, glyphs over named
# columns, spans, labels, legend): the comparison page sends its specs to the browser, where
# ``pages/figures.js`` draws them with BokehJS (no Bokeh document is built in the request: that
# was most of its server time); the run and device pages draw the same specs here with
# :func:`render`.
def treatment_label(t) -> str:
    if t is None:
        return "untreated"
    if t.cl_to_i is not None:
        return f"{t.code} ({t.cl_to_i.to('percent').magnitude:.3g} % Cl:I)"
    return t.code


def _col(values) -> np.ndarray:
    """A numeric column of a spec (NaN where undefined; :func:`specs_json` writes it as null)."""
    return np.asarray(values, dtype=float)


def _json(value) -> str:
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        values = value.tolist()
        if np.isfinite(value).all():
            return "[" + ",".join([f"{v:.6g}" for v in values]) + "]"
        return "[" + ",".join([f"{v:.6g}" if math.isfinite(v) else "null" for v in values]) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        if all(v is None or isinstance(v, str | int) for v in value):  # ids, labels, URLs: one call
            return json.dumps(value)
        return "[" + ",".join(_json(v) for v in value) + "]"
    if isinstance(value, np.ndarray):
        return json.dumps(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return "null"
    return json.dumps(value)


def specs_json(specs: dict, element_id: str) -> str:
    """``specs`` in a ``<script type="application/json">`` element (as Django's json_script, whose
    escapes it applies), numbers at 6 significant digits: a plot needs no more, and a third of
    the bytes to encode, send and parse."""
    from django.utils.html import format_html
    from django.utils.safestring import mark_safe

    text = _json(specs).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return format_html('<script id="{}" type="application/json">{}</script>', element_id, mark_safe(text))


def _spec(title: str, x_label: str, y_label: str, **kw) -> dict:
    return {"title": title, "x_label": x_label, "y_label": y_label, "width": W, "height": H, "tools": TOOLS,
            "glyphs": [], "spans": [], "labels": [], "legend": "below", **kw}  # fmt: skip


def _message_spec(title: str, text: str) -> dict:
    return _spec(title, "", "", tools="", message=text, legend=None)


def _missing(spec: dict, labels: list[str]) -> dict:
    """Say on the figure which series have no stored curve (rather than dropping them silently)."""
    if labels:
        spec["note"] = f"{', '.join(labels)}: {NOT_COMPUTED}"
    return spec


def dwell_spec(which: str, series: list[dict]) -> dict:
    """ON or OFF dwell-time densities (Kuno), log-log, one colour per treatment, with the population
    ML fit (truncated power law, the curve stored with the analysis) and alpha +/- its standard error
    in the legend."""
    title = f"{which.upper()} dwell-time densities with truncated power-law fits"
    spec = _spec(title, f"{which.upper()} time t (s)", "probability density P(t) (1/s)",
                 x_axis_type="log", y_axis_type="log", legend="below")  # fmt: skip
    for s in series:
        t, dens = s["dwell_density"].get(which, (np.zeros(0), np.zeros(0)))
        if len(t) == 0:
            continue
        fit = s["fits"][which]
        name = f"{s['label']}: α = {_fmt(fit.get('alpha'))} ± {_fmt(fit.get('alpha_err'))}"
        spec["glyphs"].append({"kind": "scatter", "data": {"t": _col(t), "p": _col(dens)},
                               "x": "t", "y": "p", "color": s["colour"], "size": 5, "alpha": 0.6, "legend": name,
                               "hover": [["treatment", s["label"]], ["t", "@t{0.00} s"], ["P", "@p{0.000e}"]]})  # fmt: skip
        curve = s["fit_curves"].get(which)
        if curve is not None:
            spec["glyphs"].append({"kind": "line", "data": {"t": _col(curve[0]), "p": _col(curve[1])}, "x": "t",
                                   "y": "p", "color": s["colour"], "line_width": 2, "legend": name})  # fmt: skip
    return spec if spec["glyphs"] else _message_spec(title, "no blinking results for these treatments")


def alpha_spec(series: list[dict]) -> dict:
    """Population alpha_on and alpha_off (ML fit, +/- standard error) against Cl:I."""
    rows = [s for s in series if s["fits"]["on"].get("alpha") is not None]
    if not rows:
        return _message_spec("Power-law exponents", "no blinking fits")
    x = np.array([s["cl_percent"] if s["cl_percent"] is not None else 0.0 for s in rows])
    spec = _spec("Power-law exponents of the population fits", "Cl:I (mol %)", "α (dimensionless)",
                 legend="below_horizontal", x_range=[float(x.min()) - 1.5, float(x.max()) + 1.5])  # fmt: skip
    for which, colour, marker, dx in (("on", "#1f77b4", "circle", -0.15), ("off", "#d62728", "square", 0.15)):
        a = np.array([s["fits"][which].get("alpha") or np.nan for s in rows], dtype=float)
        e = np.array([s["fits"][which].get("alpha_err") or 0.0 for s in rows], dtype=float)
        data = {
            "x": _col(x + dx),
            "a": _col(a),
            "lo": _col(a - e),
            "hi": _col(a + e),
            "label": [s["label"] for s in rows],
        }
        spec["glyphs"].append({"kind": "scatter", "data": data, "x": "x", "y": "a", "marker": marker, "size": 9,
                               "color": colour, "legend": f"α_{which}", "whisker": ["x", "lo", "hi"],
                               "hover": [["treatment", "@label"], [f"α_{which}", "@a{0.000} (@lo{0.000}–@hi{0.000})"]]})  # fmt: skip
    return spec


def class_spec(series: list[dict], classes: list[str]) -> dict:
    """Class composition (share of particles, %) as stacked bars per treatment."""
    rows = [s for s in series if s["class_counts"]]
    if not rows:
        return _message_spec("Trace classes", "no particles")
    labels = [s["short"] for s in rows]
    totals = [max(1, sum(s["class_counts"].values())) for s in rows]
    spec = _spec("Trace classes (share of particles)", "treatment", "share of particles (%)",
                 x_range={"factors": labels}, y_range=[0, 100], width=W + 120, legend="right")  # fmt: skip
    bottom = np.zeros(len(rows))
    for c in classes:
        share = np.array([100 * s["class_counts"].get(c, 0) / t for s, t in zip(rows, totals, strict=True)])
        data = {"treatment": labels, "bottom": _col(bottom), "top": _col(bottom + share), "share": _col(share),
                "count": [s["class_counts"].get(c, 0) for s in rows], "n": [sum(s["class_counts"].values()) for s in rows]}  # fmt: skip
        spec["glyphs"].append({"kind": "vbar", "data": data, "x": "treatment", "bottom": "bottom", "top": "top",
                               "width": 0.7, "color": CLASS_COLOURS.get(c, "#999"), "legend": c,
                               "hover": [["treatment", "@treatment (@n particles)"], ["class", c],
                                         ["share", "@share{0.0} % (@count)"]]})  # fmt: skip
        bottom = bottom + share
    return spec


def particle_specs(particles: list[dict], colours: dict, labels: dict) -> tuple[dict, dict, dict]:
    """Mean correlation against crystal size, and alpha_on against alpha_off, sharing one source so a
    selection in either highlights the same particles (a tap opens the particle's page). Returns the
    shared source's columns and the two specs."""
    source = {
        "edge": _col([p["edge_um"] if p["edge_um"] is not None else np.nan for p in particles]),
        "corr": _col(
            [p["correlation_mean"] if p["correlation_mean"] is not None else np.nan for p in particles]
        ),
        "a_on": _col([p["alpha_on"] if p["alpha_on"] is not None else np.nan for p in particles]),
        "a_off": _col([p["alpha_off"] if p["alpha_off"] is not None else np.nan for p in particles]),
        "cls": [p["class_label"] for p in particles],
        "treatment": [labels[p["treatment_id"]] for p in particles],
        "colour": [colours[p["treatment_id"]] for p in particles],
        "url": [p["url"] for p in particles],
        "name": [p["name"] for p in particles],
    }
    tips = [["particle", "@name"], ["treatment", "@treatment"], ["class", "@cls"], ["edge", "@edge{0.00} µm"],
            ["correlation", "@corr{0.000}"], ["α_on / α_off", "@a_on{0.00} / @a_off{0.00}"]]  # fmt: skip
    out = []
    for title, xl, yl, x, y in (
        ("Mean pixel correlation against crystal size", "edge length (µm)", "mean correlation coefficient r", "edge", "corr"),
        ("Per-particle power-law exponents (select to link)", "α_on", "α_off", "a_on", "a_off"),
    ):  # fmt: skip
        spec = _spec(
            title, xl, yl, tools=TOOLS + ",box_select,lasso_select,tap", legend="right", tap_url="@url"
        )
        spec["glyphs"].append({"kind": "scatter", "source": "particles", "x": x, "y": y, "color_field": "colour",
                               "size": 8, "alpha": 0.75, "legend_field": "treatment", "hover": tips,
                               "nonselection_alpha": 0.12, "selection_line_color": "black"})  # fmt: skip
        out.append(spec)
    return source, out[0], out[1]


def decay_spec(decays: list[dict]) -> dict:
    """TRPL decays (normalised to the peak of the data) with the model of the job's fit, drawn over
    the fitted bins only, log scale."""
    title = "TRPL decays with multi-exponential fits"
    if not decays:
        return _message_spec("TRPL decays", "no lifetime fits for these treatments")
    drawn, missing = _split(decays)
    if not drawn:
        return _message_spec("TRPL decays", f"{', '.join(missing)}: decay {NOT_COMPUTED}")
    spec = _spec(
        title, "time t (ns)", "normalised counts", y_axis_type="log", y_range=[1e-4, 1.5], legend="below"
    )
    for d in drawn:
        t, counts, model = d["time_ns"], d["counts"], d["model"]
        peak = max(float(np.nanmax(counts)), 1.0)
        keep = counts > 0
        m = np.isfinite(model) & (model > 0)
        name = f"{d['label']}: ⟨τ⟩_int = {_fmt(d['tau_int'], 1)} ns, ⟨τ⟩_amp = {_fmt(d['tau_amp'], 1)} ns"
        spec["glyphs"].append({"kind": "scatter", "data": {"t": _col(t[keep]), "c": _col(counts[keep] / peak)},
                               "x": "t", "y": "c", "size": 2, "color": d["colour"], "alpha": 0.35, "legend": name})  # fmt: skip
        spec["glyphs"].append({"kind": "line", "data": {"t": _col(t[m]), "c": _col(model[m] / peak)}, "x": "t",
                               "y": "c", "line_width": 1.5, "legend": name,
                               "color": "black" if len(drawn) == 1 else d["colour"]})  # fmt: skip
    return _missing(spec, missing)


def _split(curves: list[dict]) -> tuple[list[dict], list[str]]:
    return [c for c in curves if not c.get("missing")], [c["label"] for c in curves if c.get("missing")]


def spectra_spec(kind: str, spectra: list[dict]) -> dict:
    title = "PL spectra (normalised)" if kind == "pl" else "Absorption spectra"
    if not spectra:
        return _message_spec(title, f"no {kind.upper()} spectra")
    spectra, missing = _split(spectra)
    if not spectra:
        return _message_spec(title, f"{', '.join(missing)}: spectrum {NOT_COMPUTED}")
    y_label = "normalised PL intensity" if kind == "pl" else "absorbance (normalised at the maximum)"
    spec = _spec(title, "wavelength λ (nm)", y_label)
    for s in spectra:
        y = s["intensity"] / max(float(np.nanmax(s["intensity"])), 1e-30)
        extra = ""
        if kind == "pl" and s.get("peak_nm"):
            extra = f", peak {s['peak_nm']:.0f} nm"
            spec["spans"].append(
                {"location": s["peak_nm"], "dimension": "height", "color": s["colour"], "dash": "dotted"}
            )
        elif kind == "abs" and s.get("band_gap_ev"):
            extra = f", Eg {s['band_gap_ev']:.3f} eV"
        spec["glyphs"].append({"kind": "line", "data": {"x": _col(s["wavelength_nm"]), "y": _col(y)}, "x": "x",
                               "y": "y", "color": s["colour"], "line_width": 2, "legend": f"{s['label']}{extra}",
                               "hover": [["treatment", s["label"]], ["λ", "$x{0} nm"], ["I", "$y{0.000}"]]})  # fmt: skip
    return _missing(spec, missing)


def xrd_spec(patterns: list[dict]) -> dict:
    """XRD patterns, each normalised to its highest peak and offset, with the MAPbCl3 15.6 deg marker."""
    if not patterns:
        return _message_spec("XRD", "no XRD scans")
    patterns, missing = _split(patterns)
    if not patterns:
        return _message_spec("XRD", f"{', '.join(missing)}: scan {NOT_COMPUTED}")
    top = 1.1 * len(patterns) + 0.2
    spec = _spec("XRD patterns (normalised, offset)", "2θ (deg, Cu Kα)", "normalised intensity + offset",
                 height=H + 60, y_range=[-0.05, top + 0.1], legend="below")  # fmt: skip
    for i, x in enumerate(patterns):
        y = x["intensity"] / max(float(np.nanmax(x["intensity"])), 1e-30) + 1.1 * i
        flag = " · MAPbCl3 detected" if x["mapbcl3"] else ""
        spec["glyphs"].append({"kind": "line", "data": {"x": _col(x["two_theta_deg"]), "y": _col(y)}, "x": "x",
                               "y": "y", "color": x["colour"], "line_width": 1.5, "legend": f"{x['label']}{flag}"})  # fmt: skip
    spec["spans"] += [
        {"location": MAPBCL3_DEG, "dimension": "height", "color": "#d62728", "dash": "dashed", "width": 1.5},
        {"location": MAPBI3_DEG, "dimension": "height", "color": "#999", "dash": "dotted"},
    ]
    spec["labels"] += [
        {"x": MAPBCL3_DEG + 0.15, "y": top - 0.25, "text": "MAPbCl3 (100) 15.6°", "color": "#d62728"},
        {"x": MAPBI3_DEG - 0.15, "y": top - 0.25, "text": "MAPbI3 (110)", "color": "#777", "align": "right"},
    ]
    return _missing(spec, missing)


def iv_spec(curves: list[dict]) -> dict:
    """Photodetector I-V sweeps: |I| on a log scale, dark dashed and illuminated solid."""
    if not curves:
        return _message_spec("Photodetector I-V", "no I-V sweeps")
    curves, missing = _split(curves)
    if not curves:
        return _message_spec("Photodetector I-V", f"{', '.join(missing)}: sweep {NOT_COMPUTED}")
    spec = _spec("Photodetector I-V (dark dashed, illuminated solid)", "bias V (V)", "|current| (A)",
                 y_axis_type="log", legend="below")  # fmt: skip
    for c in curves:
        for key, dash, what in (("dark", "dashed", "dark"), ("light", "solid", "light")):
            y = c.get(key)
            if y is None:
                continue
            y = np.abs(np.asarray(y, dtype=float))
            m = np.isfinite(y) & (y > 0)
            spec["glyphs"].append({"kind": "line", "data": {"x": _col(c["voltage_V"][m]), "y": _col(y[m])}, "x": "x",
                                   "y": "y", "color": c["colour"], "dash": dash, "line_width": 2,
                                   "legend": f"{c['label']} {what}"})  # fmt: skip
    return _missing(spec, missing)


def photoresponse_spec(curves: list[dict]) -> dict:
    if not curves:
        return _message_spec("Photoresponse", "no photoresponse measurements")
    curves, missing = _split(curves)
    if not curves:
        return _message_spec("Photoresponse", f"{', '.join(missing)}: curve {NOT_COMPUTED}")
    spec = _spec("Photoresponse (light on/off cycles)", "time t (s)", "current I (nA)")
    for c in curves:
        extra = ""
        if c.get("rise_s") is not None and c.get("fall_s") is not None:
            extra = f", rise {c['rise_s'] * 1e3:.0f} ms / fall {c['fall_s'] * 1e3:.0f} ms"
        spec["glyphs"].append({"kind": "line", "data": {"x": _col(c["time_s"]), "y": _col(c["current_A"] * 1e9)},
                               "x": "x", "y": "y", "color": c["colour"], "line_width": 1.5,
                               "legend": f"{c['label']}{extra}"})  # fmt: skip
    return _missing(spec, missing)


def comparison_specs(data: dict) -> dict:
    """Every comparison figure as a spec, and the sources they share (``pages/figures.js`` draws
    them in one Bokeh document in the browser, so the linked selection works across figures)."""
    series, particles = data["series"], data["particles"]
    colours = {s["treatment_id"]: s["colour"] for s in series}
    labels = {s["treatment_id"]: s["short"] for s in series}
    source, p_corr, p_alpha = particle_specs(particles, colours, labels)
    figures = {
        "dwell_on": dwell_spec("on", series),
        "dwell_off": dwell_spec("off", series),
        "alpha": alpha_spec(series),
        "classes": class_spec(series, data["classes"]),
        "correlation": p_corr,
        "particle_alpha": p_alpha,
        "trpl": decay_spec(data["decays"]),
        "pl": spectra_spec("pl", data["spectra"]["pl"]),
        "abs": spectra_spec("abs", data["spectra"]["abs"]),
        "xrd": xrd_spec(data["xrd"]),
        "iv": iv_spec(data["iv"]),
        "photoresponse": photoresponse_spec(data["photoresponse"]),
    }
    return {"sources": {"particles": source}, "figures": figures}


def render(spec: dict, sources: dict | None = None):
    """A spec drawn as a Bokeh figure here (the run and device pages; the comparison page draws the
    same specs in the browser with ``pages/figures.js``, which follows this function)."""
    if spec.get("message"):
        return _message(spec["title"], spec["message"])
    kw = {}
    for axis in ("x", "y"):
        if spec.get(f"{axis}_axis_type"):
            kw[f"{axis}_axis_type"] = spec[f"{axis}_axis_type"]
        rng = spec.get(f"{axis}_range")
        if isinstance(rng, dict):
            kw[f"{axis}_range"] = rng["factors"]
        elif rng is not None:
            kw[f"{axis}_range"] = Range1d(*rng)
    p = _fig(spec["title"], spec["x_label"], spec["y_label"], tools=spec["tools"], width=spec["width"],
             height=spec["height"], **kw)  # fmt: skip
    shared = {name: ColumnDataSource(cols) for name, cols in (sources or {}).items()}
    for g in spec["glyphs"]:
        src = shared[g["source"]] if "source" in g else ColumnDataSource(g["data"])
        style = {"source": src}
        if "legend" in g:
            style["legend_label"] = g["legend"]
        if "legend_field" in g:
            style["legend_field"] = g["legend_field"]
        style["color"] = g.get("color") or g.get("color_field")
        for key in ("size", "alpha", "marker", "nonselection_alpha", "selection_line_color", "line_width"):
            if key in g:
                style[key] = g[key]
        if g["kind"] == "scatter":
            r = p.scatter(g["x"], g["y"], **style)
        elif g["kind"] == "line":
            r = p.line(g["x"], g["y"], line_dash=g.get("dash", "solid"), **style)
        else:  # vbar
            r = p.vbar(x=g["x"], bottom=g["bottom"], top=g["top"], width=g["width"], **style)
        if "whisker" in g:
            base, lower, upper = g["whisker"]
            p.add_layout(Whisker(source=src, base=base, lower=lower, upper=upper, line_color=g["color"]))
        if g.get("hover"):
            p.add_tools(HoverTool(renderers=[r], tooltips=[tuple(t) for t in g["hover"]]))
    if spec.get("tap_url"):
        p.select_one(TapTool).callback = OpenURL(url=spec["tap_url"])
    for s in spec["spans"]:
        p.add_layout(Span(location=s["location"], dimension=s["dimension"], line_color=s["color"],
                          line_dash=s.get("dash", "solid"), line_width=s.get("width", 1)))  # fmt: skip
    for lb in spec["labels"]:
        p.add_layout(Label(x=lb["x"], y=lb["y"], text=lb["text"], text_color=lb["color"], text_font_size="11px",
                           text_align=lb.get("align", "left")))  # fmt: skip
    if spec.get("note"):
        _not_computed_note(p, spec["note"])
    where = spec.get("legend")
    if where == "below_horizontal":
        _legend(p, "below_horizontal")
        p.height = spec["height"]
    elif where:
        _legend(p, where)
    return p


# --- one particle -------------------------------------------------------------------------------
def particle_layout(*, particle, trace, states, bin_time_s: float, corr_map, method: str):
    """Trace with threshold and the ON/OFF path the job computed (``states``; None for analyses made
    before it was stored: said in the title, not recomputed), intensity histogram, dwell densities
    with the particle's fits, and the correlation map around it."""
    t = np.arange(trace.size) * bin_time_s
    on = np.zeros(trace.size, dtype=bool) if states is None else states.astype(bool)
    state_text = np.where(on, "ON", "OFF") if states is not None else np.full(trace.size, "not stored")
    src = ColumnDataSource({"t": t, "i": trace, "state": state_text})
    how = f"ON/OFF by {method}" if states is not None else f"ON/OFF states {NOT_COMPUTED.split(' (')[0]}"
    p_tr = _fig(
        f"Trace of particle {particle.index}: {how}, threshold {_fmt(particle.threshold, 0)} counts/frame",
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
    _legend(p_tr, "below_horizontal")

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
        counts = dwell_counts([dwells])
        td, pd = kuno_density(np.asarray(counts["t_s"]), np.asarray(counts["n"]))
        p_d.scatter(td, pd, color=colour, size=6, alpha=0.7, legend_label=name)
        if alpha is not None and mu is not None:
            mu_s = float(mu.to("1/s").magnitude)
            tc, pc = truncated_power_law_curve(
                alpha, mu_s, t_min_s=bin_time_s, t_max_s=float(dwells.max()), bin_time_s=bin_time_s
            )
            p_d.line(tc, pc, color=colour, line_width=2, legend_label=name)
    _legend(p_d, "below")

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
def _curves_of(results) -> dict:
    """job id -> stored ResultCurve of these result rows (one query)."""
    from labbook.results.models import ResultCurve

    return {c.job_id: c for c in ResultCurve.objects.filter(job__in=[r.job_id for r in results])}


def run_figure(run, results: dict):
    """A run's data with its analysis, from what the job stored: a decay with its fit, a spectrum,
    an XRD scan, or a blinking run's dwell densities with the population fits."""
    from labbook.pages import comparison
    from labbook.results.models import BlinkingAnalysis
    from labbook.results.selectors import blinking_summaries

    look = {"label": run.code, "colour": PALETTE[0]}
    if results.get("lifetime") is not None:
        f = results["lifetime"]
        return render(decay_spec([comparison.decay_curve(f, _curves_of([f]).get(f.job_id), **look)]))
    if results.get("spectra"):
        s = results["spectra"][0]
        curve = comparison.spectrum_curve(s, _curves_of([s]).get(s.job_id), **look)
        return render(spectra_spec(s.spectrum_kind, [curve]))
    if results.get("xrd") is not None:
        x = results["xrd"]
        return render(xrd_spec([comparison.xrd_curve(x, _curves_of([x]).get(x.job_id), **look)]))
    if results.get("blinking") is not None:
        b = results["blinking"]
        summaries = blinking_summaries(user=None, analyses=BlinkingAnalysis.objects.filter(pk=b.pk))
        s = {**look, **comparison.blinking_series(summaries)}
        return row(render(dwell_spec("on", [s])), render(dwell_spec("off", [s])))
    return None


def device_figure(measurements: list, *, title: str):
    """A device's I-V sweeps and photoresponses, from the curves its analyses stored."""
    from labbook.pages import comparison

    metrics = {m.pk: next(iter(m.metrics.all()), None) for m in measurements}
    curves = _curves_of([x for x in metrics.values() if x is not None])
    iv, pr = [], []
    for m in measurements:
        x = metrics[m.pk]
        if x is None:
            continue
        c = comparison.electrical_curve(m, x, curves.get(x.job_id), label=title, colour=PALETTE[0])
        if c["kind"] == "photoresponse":
            pr.append(c)
        elif not any(i["label"] == c["label"] for i in iv):
            iv.append(c)
    if not iv and not pr:
        return None
    return row(render(iv_spec(iv)), render(photoresponse_spec(pr)))


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
