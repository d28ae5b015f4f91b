"""What the comparison page plots, gathered with a fixed number of queries whatever the number of
treatments, from what the jobs stored: the grouped statistics of
:func:`labbook.results.selectors.treatment_comparison`, the particle summaries of
:func:`~labbook.results.selectors.blinking_summaries` (dwell-time counts, population fits with their
curves, scatter points) and the result curves (:class:`~labbook.results.models.ResultCurve`: TRPL
decays with the model of the job's own fit, spectra, XRD scans, I-V and photoresponse curves).

No raw file is read and nothing is fitted here. A result made before its curve was stored has
none: the figure says "not computed yet" for it (``manage.py summarise_results`` computes them).
"""

from __future__ import annotations

import numpy as np
from django.db.models import Q
from django.urls import reverse

from labbook.devices.models import DeviceMeasurement
from labbook.jobs.models import JobInput
from labbook.pages.plots import NOT_COMPUTED, PALETTE
from labbook.projects.selectors import visible
from labbook.results.models import DeviceMetrics, LifetimeFit, ResultCurve, SpectrumResult, XRDResult
from labbook.results.selectors import CLASSES, blinking_summaries, treatment_comparison
from labbook.results.summaries import kuno_density, pool_dwell_counts, share_at_least
from labbook.synthesis.models import PostTreatment

SERIES = (0, 3, 9, 17)  # the paper's nominal Cl:I series, the default selection


def treatments_with_results(user):
    """Treatments the user may see that have at least one analysed run, ordered by Cl:I."""
    has = Q(samples__runs__blinking_analyses__isnull=False) | Q(samples__runs__lifetime_fits__isnull=False)
    return visible(PostTreatment, user).filter(has).distinct().order_by("cl_to_i", "code")


def default_treatment_ids(user) -> list[int]:
    """The 0/3/9/17 % series: per nominal value, the most recent treatment with results."""
    chosen: dict[float, int] = {}
    for t in treatments_with_results(user).filter(nominal_cl_percent__in=SERIES).order_by("-date", "-pk"):
        chosen.setdefault(t.nominal_cl_percent, t.pk)
    if chosen:
        return [chosen[k] for k in sorted(chosen)]
    return list(treatments_with_results(user).values_list("pk", flat=True)[:4])


#: bump when the figures change, so cached pages are drawn again
FIGURES_VERSION = 3


def fingerprint(*, user, treatment_ids: list[int]) -> str | None:
    """A cache key for the comparison figures of ``treatment_ids`` as ``user`` sees them: changes
    when a treatment is edited, an analysis of one of them finishes or its summaries are
    (re)computed (3 queries)."""
    import hashlib

    from django.db.models import Count, Max

    from labbook.jobs.models import AnalysisJob
    from labbook.projects.selectors import projects_for

    if not treatment_ids:
        return None
    projects = sorted(projects_for(user).values_list("pk", flat=True))
    treatments = (
        visible(PostTreatment, user)
        .filter(pk__in=treatment_ids)
        .aggregate(m=Max("modified_at"), n=Count("pk"))
    )
    in_scope = Q(run__sample__treatment__in=treatment_ids) | Q(
        measurement__device__samples__treatment__in=treatment_ids
    )
    jobs = (
        visible(AnalysisJob, user)
        .filter(in_scope)
        .aggregate(
            m=Max("finished_at"),
            last=Max("pk"),
            n=Count("pk", distinct=True),
            curves=Max("curve__computed_at"),
            summaries=Max("blinkinganalysis__summary__computed_at"),
        )
    )
    blob = repr((FIGURES_VERSION, sorted(treatment_ids), projects, treatments, jobs))
    return "pages:compare:" + hashlib.sha256(blob.encode()).hexdigest()


def _arr(values) -> np.ndarray:
    """A stored JSON column as floats (null -> NaN)."""
    return np.asarray([np.nan if v is None else v for v in values], dtype=float)


def _mag(q, unit: str) -> float | None:
    return None if q is None else float(q.to(unit).magnitude)


def _si(value, unit: str) -> str:
    """2.2e-08 A -> '22 nA' (pint's compact prefixes); '' for None."""
    if value is None:
        return ""
    from labbook.units import Quantity

    return f"{Quantity(value, unit).to_compact():.3g~P}"


# --- what one figure draws of one stored result ---------------------------------------------------
def decay_curve(fit: LifetimeFit, curve: ResultCurve | None, *, label: str, colour: str) -> dict:
    """The stored decay and model of a lifetime fit, or a "not computed yet" entry."""
    entry = {
        "label": label,
        "colour": colour,
        "tau_int": _mag(fit.tau_avg_int, "ns"),
        "tau_amp": _mag(fit.tau_avg_amp, "ns"),
    }
    if curve is None:
        return {**entry, "missing": True}
    d = curve.data
    return {**entry, "time_ns": _arr(d["time_ns"]), "counts": _arr(d["counts"]), "model": _arr(d["model"])}


def spectrum_curve(s: SpectrumResult, curve: ResultCurve | None, *, label: str, colour: str) -> dict:
    entry = {
        "label": label,
        "colour": colour,
        "peak_nm": _mag(s.peak_wavelength, "nm"),
        "band_gap_ev": _mag(s.band_gap, "eV"),
    }
    if curve is None:
        return {**entry, "missing": True}
    return {
        **entry,
        "wavelength_nm": _arr(curve.data["wavelength_nm"]),
        "intensity": _arr(curve.data["intensity"]),
    }


def xrd_curve(x: XRDResult, curve: ResultCurve | None, *, label: str, colour: str) -> dict:
    entry = {"label": label, "colour": colour, "mapbcl3": x.mapbcl3_detected}
    if curve is None:
        return {**entry, "missing": True}
    return {
        **entry,
        "two_theta_deg": _arr(curve.data["two_theta_deg"]),
        "intensity": _arr(curve.data["intensity"]),
    }


def electrical_curve(
    m: DeviceMeasurement, metrics: DeviceMetrics, curve: ResultCurve | None, *, label: str, colour: str
) -> dict:
    """A photoresponse (with rise and fall times) or an I-V sweep (dark and light) of a measurement."""
    entry = {"label": label, "colour": colour, "kind": "photoresponse" if m.kind == "photoresponse" else "iv"}
    if curve is None:
        return {**entry, "missing": True}
    d = curve.data
    if curve.kind == "photoresponse":
        return {
            **entry,
            "kind": "photoresponse",
            "time_s": _arr(d["time_s"]),
            "current_A": _arr(d["current_A"]),
            "rise_s": _mag(metrics.rise_time, "s"),
            "fall_s": _mag(metrics.fall_time, "s"),
        }
    dark, light = d.get("dark_A"), d.get("light_A")
    if dark is None and light is None and d.get("current_A") is not None:
        dark, light = (d["current_A"], None) if m.kind == "dark_iv" else (None, d["current_A"])
    return {
        **entry,
        "kind": "iv",
        "voltage_V": _arr(d["voltage_V"]),
        "dark": None if dark is None else _arr(dark),
        "light": None if light is None else _arr(light),
    }


def blinking_series(summaries: list[dict]) -> dict:
    """One treatment's dwell densities (Kuno, all its analyses' dwells pooled), the population fits
    of its most recent analysis with their stored curves scaled to the pooled dwells, and counts."""
    out = {"dwell_density": {}, "fits": {"on": {}, "off": {}}, "fit_curves": {}, "bin_time_s": None}
    if not summaries:
        return out
    newest = max(summaries, key=lambda e: (e["analysis"].created_at, e["analysis"].pk))["summary"]
    out["bin_time_s"] = newest["bin_time_s"]
    for which in ("on", "off"):
        t, n = pool_dwell_counts([e["summary"]["dwells"][which] for e in summaries])
        out["dwell_density"][which] = kuno_density(t, n)
        fit = newest["fits"][which]
        out["fits"][which] = {k: v for k, v in fit.items() if k != "curve"}
        curve = fit.get("curve")
        if curve is not None and t.size:
            weight = share_at_least(t, n, curve["t_min_s"])
            out["fit_curves"][which] = (_arr(curve["t_s"]), weight * _arr(curve["p_per_s"]))
    return out


def comparison_data(*, user, treatment_ids: list[int]) -> dict:
    """Everything the comparison figures need for ``treatment_ids`` (ordered by Cl:I)."""
    treatments = list(visible(PostTreatment, user).filter(pk__in=treatment_ids).order_by("cl_to_i", "code"))
    ids = [t.pk for t in treatments]
    groups = {g["group"]["key"]: g for g in treatment_comparison(user=user, treatment_ids=ids)}
    summaries = blinking_summaries(user=user, treatment_ids=ids)
    pending = [
        f"blinking analysis {e['analysis'].pk}: summarised from its particle rows for this page (not stored yet)"
        for e in summaries
        if not e["stored"]
    ]

    url = reverse("pages:particle-detail", args=[987654321]).replace("987654321", "{}")
    particles = []
    for e in summaries:
        pts, a = e["summary"]["points"], e["analysis"]
        for i, pk in enumerate(pts["pk"]):
            particles.append(
                {
                    "treatment_id": e["treatment_id"],
                    "edge_um": pts["edge_um"][i],
                    "correlation_mean": pts["correlation_mean"][i],
                    "alpha_on": pts["alpha_on"][i],
                    "alpha_off": pts["alpha_off"][i],
                    "class_label": pts["class"][i],
                    "url": url.format(pk),
                    "name": f"#{pts['index'][i]} (analysis {a.pk})",
                }
            )

    # a legend by treatment lists them in the order they first appear: Cl:I order, not string order
    order = {pk: i for i, pk in enumerate(ids)}
    particles.sort(key=lambda p: order[p["treatment_id"]])

    series = []
    for i, t in enumerate(treatments):
        colour = PALETTE[i % len(PALETTE)]
        g = groups.get(t.pk, {})
        mine = [e for e in summaries if e["treatment_id"] == t.pk]
        cl = None if t.cl_to_i is None else t.cl_to_i.to("percent").magnitude
        series.append(
            {
                "treatment_id": t.pk,
                "treatment": t,
                "label": f"{t.code} ({cl:.3g} % Cl:I)" if cl is not None else t.code,
                "short": f"{cl:.3g} % Cl" if cl is not None else t.code,
                "cl_percent": cl,
                "colour": colour,
                **blinking_series(mine),
                "n_analyses": len(mine),
                "class_counts": g.get("particles", {}).get("class_counts", {}),
                "stats": g.get("particles", {}),
                "lifetime": g.get("lifetime", {}),
                "device": g.get("device", {}),
                "photocurrent": _si(g.get("device", {}).get("photocurrent_A"), "A"),
            }
        )
    colour_of = {s["treatment_id"]: s["colour"] for s in series}
    short_of = {s["treatment_id"]: s["short"] for s in series}

    def of_treatments(model):
        return (
            visible(model, user)
            .filter(run__sample__treatment__in=ids)
            .defer("payload")
            .select_related("run__sample")
        )

    lifetimes = list(of_treatments(LifetimeFit))
    spectra = list(of_treatments(SpectrumResult))
    xrds = list(of_treatments(XRDResult))
    device_metrics = list(
        visible(DeviceMetrics, user)
        .filter(measurement__device__samples__treatment__in=ids)
        .distinct()
        .defer("payload")
        .select_related("measurement__device")
        .prefetch_related("measurement__device__samples")
    )
    job_ids = [r.job_id for rows in (lifetimes, spectra, xrds, device_metrics) for r in rows]
    curves = {c.job_id: c for c in ResultCurve.objects.filter(job__in=job_ids)}
    data_sha = dict(
        JobInput.objects.filter(job__in=[m.job_id for m in device_metrics], role="data").values_list(
            "job_id", "raw_file__sha256"
        )
    )

    def ordered(rows):
        return sorted(rows, key=lambda r: (ids.index(r.run.sample.treatment_id), r.pk))

    def label_of(r):
        tid = r.run.sample.treatment_id
        return {"label": short_of[tid], "colour": colour_of[tid]}

    decays = [decay_curve(f, curves.get(f.job_id), **label_of(f)) for f in ordered(lifetimes)]
    spec = {"pl": [], "abs": []}
    for s in ordered(spectra):
        spec[s.spectrum_kind].append(spectrum_curve(s, curves.get(s.job_id), **label_of(s)))
    xrd = [xrd_curve(x, curves.get(x.job_id), **label_of(x)) for x in ordered(xrds)]
    iv, pr, done_iv = [], [], set()
    for m in sorted(device_metrics, key=lambda m: m.pk):
        meas = m.measurement
        tids = [s.treatment_id for s in meas.device.samples.all() if s.treatment_id in colour_of]
        if not tids:
            continue
        if meas.kind != "photoresponse":
            same_file = (meas.device_id, data_sha.get(m.job_id))
            if same_file in done_iv:  # dark and light sweeps in one file
                continue
            done_iv.add(same_file)
        label = f"{meas.device.code} ({short_of[tids[0]]})"
        c = electrical_curve(meas, m, curves.get(m.job_id), label=label, colour=colour_of[tids[0]])
        (pr if c["kind"] == "photoresponse" else iv).append(c)
    for what, rows in (("TRPL", decays), ("PL", spec["pl"]), ("absorption", spec["abs"]), ("XRD", xrd),
                       ("I-V", iv), ("photoresponse", pr)):  # fmt: skip
        pending += [f"{what} of {r['label']}: curve {NOT_COMPUTED}" for r in rows if r.get("missing")]
    return {
        "treatments": treatments,
        "series": series,
        "particles": particles,
        "classes": CLASSES,
        "decays": decays,
        "spectra": spec,
        "xrd": xrd,
        "iv": iv,
        "photoresponse": pr,
        "pending": pending,
    }
