"""What the comparison page plots, gathered with a fixed number of queries whatever the number of
treatments: the grouped statistics from :func:`labbook.results.selectors.treatment_comparison`, one
query per kind of result row (with their job inputs prefetched), and the raw curves read from the
stored files by ``analysis.readers``. Fitted TRPL curves are recomputed by ``analysis.lifetime.fit_decay``
started at the stored lifetimes (the model curve itself is not stored), and cached per job.
"""

from __future__ import annotations

import logging

import numpy as np
from django.core.cache import cache
from django.db.models import Prefetch, Q
from django.urls import reverse

from analysis import readers
from labbook.devices.models import DeviceMeasurement
from labbook.jobs.models import JobInput
from labbook.pages.plots import PALETTE, local_files
from labbook.projects.selectors import visible
from labbook.results.models import (
    BlinkingAnalysis,
    DeviceMetrics,
    LifetimeFit,
    Particle,
    SpectrumResult,
    XRDResult,
)
from labbook.results.selectors import CLASSES, treatment_comparison
from labbook.synthesis.models import PostTreatment

log = logging.getLogger(__name__)
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
FIGURES_VERSION = 1


def fingerprint(*, user, treatment_ids: list[int]) -> str | None:
    """A cache key for the comparison figures of ``treatment_ids`` as ``user`` sees them: changes
    when a treatment is edited or an analysis of one of them finishes (3 queries)."""
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
        .aggregate(m=Max("finished_at"), last=Max("pk"), n=Count("pk", distinct=True))
    )
    blob = repr((FIGURES_VERSION, sorted(treatment_ids), projects, treatments, jobs))
    return "pages:compare:" + hashlib.sha256(blob.encode()).hexdigest()


def _with_inputs(qs):
    return qs.select_related("job").prefetch_related(
        Prefetch("job__inputs", queryset=JobInput.objects.select_related("raw_file"))
    )


def population_fits(b: BlinkingAnalysis) -> dict:
    pop = (b.payload or {}).get("population", {})
    out = {}
    for which in ("on", "off"):
        f = pop.get(which, {})
        mu = getattr(b, f"{which}_mu")
        out[which] = {
            "alpha": getattr(b, f"{which}_alpha"),
            "alpha_err": getattr(b, f"{which}_alpha_err"),
            "mu_per_s": None if mu is None else float(mu.to("1/s").magnitude),
            "t_min_s": f.get("t_min_s"),
            "n_events": getattr(b, f"{which}_n_events"),
        }
    return out


def decay_curve(fit: LifetimeFit, path_of, *, label: str, colour: str) -> dict | None:
    inputs = {i.role: i.raw_file for i in fit.job.inputs.all()}
    if "decay" not in inputs:
        return None
    decay = readers.read_decay(path_of(inputs["decay"]))
    model = cache.get(key := f"pages:decay-model:{fit.job_id}")
    if model is None:
        model = _decay_model(fit, decay, path_of(inputs["irf"]) if "irf" in inputs else None)
        if model is not None:
            cache.set(key, model, 24 * 3600)
    return {
        "label": label,
        "colour": colour,
        "time_ns": decay.time_ns,
        "counts": np.asarray(decay.counts, dtype=float),
        "model": model,
        "tau_int": None if fit.tau_avg_int is None else float(fit.tau_avg_int.to("ns").magnitude),
        "tau_amp": None if fit.tau_avg_amp is None else float(fit.tau_avg_amp.to("ns").magnitude),
    }


def _decay_model(fit: LifetimeFit, decay, irf_path):
    """The fitted model curve: the same fit (method, IRF, components, repetition rate) started at the
    stored lifetimes, so it converges at once to the stored optimum."""
    from analysis.lifetime import fit_decay

    p = fit.payload or {}
    params = p.get("parameters", {})
    try:
        irf = readers.read_decay(irf_path).counts if irf_path is not None else params.get("irf", "gaussian")
        result = fit_decay(
            decay.time_ns,
            decay.counts,
            fit.n_components,
            irf=irf,
            rep_rate_hz=p.get("rep_rate_hz"),
            method="mle" if p.get("method", "poisson-mle").endswith("mle") else "lsq",
            taus_start_ns=fit.taus_ns,
        )
    except Exception as exc:  # the data are still worth showing without the curve
        log.warning("decay model of job %s not recomputed: %s", fit.job_id, exc)
        return None
    return np.asarray(result.model_counts, dtype=float)


def spectrum_curve(s: SpectrumResult, raw, path_of, *, label: str, colour: str) -> dict | None:
    sp = readers.read_spectrum(path_of(raw))
    p = s.payload or {}
    return {
        "label": label,
        "colour": colour,
        "wavelength_nm": sp.wavelength_nm,
        "intensity": np.asarray(sp.intensity, dtype=float),
        "peak_nm": p.get("peak_nm"),
        "band_gap_ev": p.get("band_gap_ev"),
    }


def xrd_curve(x: XRDResult, raw, path_of, *, label: str, colour: str) -> dict | None:
    pat = readers.read_xrd(path_of(raw))
    return {
        "label": label,
        "colour": colour,
        "two_theta_deg": pat.two_theta_deg,
        "intensity": np.asarray(pat.intensity, dtype=float),
        "mapbcl3": x.mapbcl3_detected,
    }


def electrical_curve(m: DeviceMeasurement, raw, metrics, path_of, *, label: str, colour: str) -> dict | None:
    e = readers.read_electrical(path_of(raw))
    if m.kind == "photoresponse":
        if e.time_s is None or e.current_A is None:
            return None
        return {
            "label": label,
            "colour": colour,
            "time_s": e.time_s,
            "current_A": e.current_A,
            "rise_s": None
            if metrics is None or metrics.rise_time is None
            else float(metrics.rise_time.to("s").magnitude),
            "fall_s": None
            if metrics is None or metrics.fall_time is None
            else float(metrics.fall_time.to("s").magnitude),
        }
    if e.voltage_V is None:
        return None
    dark = e.current_dark_A
    light = e.current_light_A
    if dark is None and light is None:
        dark, light = (e.current_A, None) if m.kind == "dark_iv" else (None, e.current_A)
    return {"label": label, "colour": colour, "voltage_V": e.voltage_V, "dark": dark, "light": light}


def _si(value, unit: str) -> str:
    """2.2e-08 A -> '22 nA' (pint's compact prefixes); '' for None."""
    if value is None:
        return ""
    from labbook.units import Quantity

    return f"{Quantity(value, unit).to_compact():.3g~P}"


def comparison_data(*, user, treatment_ids: list[int]) -> dict:
    """Everything the comparison figures need for ``treatment_ids`` (ordered by Cl:I)."""
    treatments = list(visible(PostTreatment, user).filter(pk__in=treatment_ids).order_by("cl_to_i", "code"))
    ids = [t.pk for t in treatments]
    groups = {g["group"]["key"]: g for g in treatment_comparison(user=user, treatment_ids=ids)}

    analyses = list(
        visible(BlinkingAnalysis, user)
        .filter(run__sample__treatment__in=ids)
        .values_list("pk", "run__sample__treatment_id")
    )
    by_analysis = dict(analyses)
    analysis_rows = {b.pk: b for b in visible(BlinkingAnalysis, user).filter(pk__in=by_analysis)}
    particles_qs = (
        visible(Particle, user)
        .filter(analysis__in=list(by_analysis))
        .values(
            "pk",
            "index",
            "analysis_id",
            "edge",
            "correlation_mean",
            "alpha_on",
            "alpha_off",
            "trace_class",
            "subclass",
            "on_dwell_s",
            "off_dwell_s",
        )  # fmt: skip
        .order_by("analysis_id", "index")
    )
    particles = []
    dwells = {t.pk: {"on": [], "off": []} for t in treatments}
    for p in particles_qs:
        tid = by_analysis[p["analysis_id"]]
        dwells[tid]["on"].extend(p["on_dwell_s"])
        dwells[tid]["off"].extend(p["off_dwell_s"])
        cls = p["trace_class"] if p["trace_class"] != "qTSB" else f"qTSB/{p['subclass'] or 'intermediate'}"
        particles.append(
            {
                "treatment_id": tid,
                "edge_um": p["edge"],
                "correlation_mean": p["correlation_mean"],
                "alpha_on": p["alpha_on"],
                "alpha_off": p["alpha_off"],
                "class_label": cls,
                "url": reverse("pages:particle-detail", args=[p["pk"]]),
                "name": f"#{p['index']} (analysis {p['analysis_id']})",
            }
        )

    series = []
    for i, t in enumerate(treatments):
        colour = PALETTE[i % len(PALETTE)]
        g = groups.get(t.pk, {})
        mine = [b for b in analysis_rows.values() if by_analysis[b.pk] == t.pk]
        fits = population_fits(mine[0]) if mine else {"on": {}, "off": {}}
        series.append(
            {
                "treatment_id": t.pk,
                "treatment": t,
                "label": f"{t.code} ({t.cl_to_i.to('percent').magnitude:.3g} % Cl:I)"
                if t.cl_to_i is not None
                else t.code,
                "short": f"{t.cl_to_i.to('percent').magnitude:.3g} % Cl" if t.cl_to_i is not None else t.code,
                "cl_percent": None if t.cl_to_i is None else t.cl_to_i.to("percent").magnitude,
                "colour": colour,
                "on_dwell_s": dwells[t.pk]["on"],
                "off_dwell_s": dwells[t.pk]["off"],
                "fits": fits,
                "n_analyses": len(mine),
                "bin_time_s": float(mine[0].bin_time.to("s").magnitude) if mine else None,
                "class_counts": g.get("particles", {}).get("class_counts", {}),
                "stats": g.get("particles", {}),
                "lifetime": g.get("lifetime", {}),
                "device": g.get("device", {}),
                "photocurrent": _si(g.get("device", {}).get("photocurrent_A"), "A"),
            }
        )
    colour_of = {s["treatment_id"]: s["colour"] for s in series}
    short_of = {s["treatment_id"]: s["short"] for s in series}

    lifetimes = list(
        _with_inputs(visible(LifetimeFit, user).filter(run__sample__treatment__in=ids)).select_related(
            "run__sample"
        )
    )
    spectra = list(
        _with_inputs(visible(SpectrumResult, user).filter(run__sample__treatment__in=ids)).select_related(
            "run__sample"
        )
    )
    xrds = list(
        _with_inputs(visible(XRDResult, user).filter(run__sample__treatment__in=ids)).select_related(
            "run__sample"
        )
    )
    device_metrics = list(
        _with_inputs(
            visible(DeviceMetrics, user).filter(measurement__device__samples__treatment__in=ids).distinct()
        )
        .select_related("measurement__device")
        .prefetch_related("measurement__device__samples")
    )

    decays, spec, xrd, iv, pr = [], {"pl": [], "abs": []}, [], [], []

    def ordered(rows, tid_of):
        return sorted(rows, key=lambda r: ids.index(tid_of(r)))

    with local_files() as path_of:
        for f in ordered(lifetimes, lambda r: r.run.sample.treatment_id):
            tid = f.run.sample.treatment_id
            d = decay_curve(f, path_of, label=short_of[tid], colour=colour_of[tid])
            if d:
                decays.append(d)
        for s in ordered(spectra, lambda r: r.run.sample.treatment_id):
            tid = s.run.sample.treatment_id
            raw = {i.role: i.raw_file for i in s.job.inputs.all()}.get("data")
            if raw:
                spec[s.spectrum_kind].append(
                    spectrum_curve(s, raw, path_of, label=short_of[tid], colour=colour_of[tid])
                )
        for x in ordered(xrds, lambda r: r.run.sample.treatment_id):
            tid = x.run.sample.treatment_id
            raw = {i.role: i.raw_file for i in x.job.inputs.all()}.get("data")
            if raw:
                xrd.append(xrd_curve(x, raw, path_of, label=short_of[tid], colour=colour_of[tid]))
        done_iv = set()
        for m in device_metrics:
            meas = m.measurement
            tids = [s.treatment_id for s in meas.device.samples.all() if s.treatment_id in colour_of]
            if not tids:
                continue
            raw = {i.role: i.raw_file for i in m.job.inputs.all()}.get("data")
            if raw is None:
                continue
            label = f"{meas.device.code} ({short_of[tids[0]]})"
            if meas.kind != "photoresponse":
                if (meas.device_id, raw.sha256) in done_iv:  # dark and light sweeps in one file
                    continue
                done_iv.add((meas.device_id, raw.sha256))
            c = electrical_curve(meas, raw, m, path_of, label=label, colour=colour_of[tids[0]])
            if c is not None:
                (pr if meas.kind == "photoresponse" else iv).append(c)
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
    }
