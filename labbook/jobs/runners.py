"""The bridge: for each job kind, how parameters are checked, how analysis/ is called, and how its
output becomes result rows. This is the only module of labbook/ that calls the numeric core.

A runner has ``required_roles`` (the input files it needs), ``normalise_parameters`` (validate and
fill defaults from the record: bin time, pixel size, area, power density...), ``analyse`` (pure
computation on local file paths; may run for minutes on dask) and ``write_results`` (called inside
the job's single result transaction).

What the pages draw is computed here too, once, and stored with the result (issue 16): ``curve``
(the decimated spectrum, XRD scan, I-V or photoresponse, and the TRPL decay with the model of the
job's own fit) and, for blinking, the particle summary (:mod:`labbook.results.summaries`). The
backfill (``manage.py summarise_results``) calls the same ``curve`` on the stored raw files.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

import analysis
from analysis.cli import jsonable, with_version
from analysis.errors import AnalysisInputError
from labbook.results.models import (
    BlinkingAnalysis,
    DeviceMetrics,
    LifetimeFit,
    Particle,
    ResultArtifact,
    SpectrumResult,
    XRDResult,
)
from labbook.results.services import particle_summary_write, result_curve_write
from labbook.results.summaries import curve_columns
from labbook.units import Quantity, to_quantity

Progress = Callable[[float, str], None]

#: what reading and analysing a stored raw file raises for bad or missing data (not a bug)
INPUT_ERRORS = (AnalysisInputError, ValidationError, OSError)


def analysis_version() -> str:
    return analysis.__version__


# --- dask ---------------------------------------------------------------------------------------
_client_lock = threading.Lock()
_client = None


def dask_client():
    """The worker process' dask client: the scheduler at DASK_SCHEDULER_ADDRESS, else a LocalCluster
    made once per process (two single-threaded worker processes) and reused by every job."""
    global _client
    with _client_lock:
        if _client is None or _client.status not in ("running", "connecting"):
            from distributed import Client

            if settings.DASK_SCHEDULER_ADDRESS:
                _client = Client(settings.DASK_SCHEDULER_ADDRESS, timeout="30s")
            else:
                from analysis.chunked import local_cluster

                cluster = local_cluster(n_workers=int(getattr(settings, "DASK_LOCAL_WORKERS", 2)))
                _client = Client(cluster)
        return _client


def close_dask_client() -> None:
    """Close the process' client (and its LocalCluster, if it made one)."""
    global _client
    with _client_lock:
        if _client is not None:
            cluster = getattr(_client, "cluster", None)
            _client.close()
            if cluster is not None:
                cluster.close()
            _client = None


def scheduler_address() -> str:
    return settings.DASK_SCHEDULER_ADDRESS or "LocalCluster"


@dataclass
class Output:
    data: dict
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    scheduler: str = ""
    summary: str = ""
    #: (kind, columns) of what the pages draw (labbook.results.models.ResultCurve), or None
    curve: tuple[str, dict] | None = None


@contextlib.contextmanager
def local_inputs(job) -> Iterator[dict[str, Path]]:
    """Role -> a local path of each input file (the stored file itself on a filesystem storage)."""
    paths: dict[str, Path] = {}
    tmpdir = None
    try:
        for inp in job.inputs.select_related("raw_file"):
            name = inp.raw_file.storage_name
            try:
                paths[inp.role] = Path(default_storage.path(name))
            except NotImplementedError:  # a remote storage: copy it here
                tmpdir = tmpdir or tempfile.mkdtemp(prefix="labbook-job-")
                target = Path(tmpdir) / f"{inp.role}-{inp.raw_file.original_name}"
                with default_storage.open(name, "rb") as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1024 * 1024)
                paths[inp.role] = target
            # keep the original extension visible to readers that dispatch on it
            suffix = Path(inp.raw_file.original_name).suffix
            if suffix and paths[inp.role].suffix.lower() != suffix.lower():
                tmpdir = tmpdir or tempfile.mkdtemp(prefix="labbook-job-")
                link = Path(tmpdir) / f"{inp.role}{suffix}"
                link.symlink_to(paths[inp.role])
                paths[inp.role] = link
        yield paths
    finally:
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)


def input_names(job) -> dict[str, str]:
    """What the analysis may call each input file (its checksum, its stored path) -> the name it was
    uploaded with; :func:`job_execute`'s messages name files by these (see :func:`name_files`)."""
    names: dict[str, str] = {}
    for inp in job.inputs.select_related("raw_file"):
        raw = inp.raw_file
        names[raw.sha256] = raw.original_name
        with contextlib.suppress(NotImplementedError):
            names[str(default_storage.path(raw.storage_name))] = raw.original_name
    return names


def name_files(message: str, names: dict[str, str]) -> str:
    """``message`` with every path or checksum of ``names`` replaced by the file's original name:
    "e3b0c442...: empty file" -> "movie.tif: empty file". Longest first, so a stored path goes
    whole before the checksum inside it."""
    for key in sorted(names, key=len, reverse=True):
        if key and key in message:
            message = message.replace(key, names[key])
    return message


def _q(value, unit: str, name: str) -> float | None:
    """A parameter given as text/number/Quantity, in ``unit``; ValidationError naming it otherwise."""
    if value is None or value == "":
        return None
    q = to_quantity(value, unit=unit, name=name)
    q = q.value if hasattr(q, "error") else q
    return float(q.to(unit).magnitude)


def _positive(value, name):
    if value is not None and not value > 0:
        raise ValidationError({name: f"must be positive, got {value}"})
    return value


def save_artifact(job, name: str, array: np.ndarray, *, preview: np.ndarray | None = None) -> ResultArtifact:
    """Store ``array`` as .npy (and an optional PNG preview of a 2-D image) for ``job``."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    data = buf.getvalue()
    base = f"results/job-{job.pk}/{name}"
    stored = default_storage.save(f"{base}.npy", ContentFile(data))
    preview_name = ""
    if preview is not None:
        preview_name = default_storage.save(f"{base}.png", ContentFile(png_image(preview)))
    return ResultArtifact.objects.create(
        project=job.project,
        created_by=job.requested_by,
        job=job,
        name=name,
        storage_name=stored,
        preview_name=preview_name,
        shape=list(array.shape),
        dtype=str(array.dtype),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def png_image(image: np.ndarray, *, vmin: float | None = None, vmax: float | None = None) -> bytes:
    """A 2-D array as an 8-bit PNG with a blue-white-red map (NaN transparent-grey), via Pillow-free zlib."""
    import struct
    import zlib

    img = np.asarray(image, dtype=float)
    finite = np.isfinite(img)
    lo = np.nanmin(img) if vmin is None and finite.any() else (vmin if vmin is not None else 0.0)
    hi = np.nanmax(img) if vmax is None and finite.any() else (vmax if vmax is not None else 1.0)
    scaled = np.zeros(img.shape) if hi <= lo else np.clip((img - lo) / (hi - lo), 0, 1)
    scaled = np.where(finite, scaled, 0.5)
    # blue (0) -> white (0.5) -> red (1)
    r = np.where(scaled < 0.5, 2 * scaled, 1.0)
    b = np.where(scaled < 0.5, 1.0, 2 * (1 - scaled))
    g = np.where(scaled < 0.5, 2 * scaled, 2 * (1 - scaled))
    rgb = (np.stack([r, g, b], axis=-1) * 255).astype(np.uint8)
    rgb[~finite] = (200, 200, 200)
    h, w = img.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(tag, payload):
        c = struct.pack(">I", len(payload)) + tag + payload
        return c + struct.pack(">I", zlib.crc32(tag + payload) & 0xFFFFFFFF)

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


# --- runners ------------------------------------------------------------------------------------
class Runner:
    required_roles: tuple[str, ...] = ("data",)

    def normalise_parameters(self, params: dict, *, run=None, measurement=None) -> dict:
        return dict(params)

    def analyse(self, paths: dict[str, Path], params: dict, *, progress: Progress, scheduler: str) -> Output:
        raise NotImplementedError

    def write_results(self, job, output: Output) -> None:
        raise NotImplementedError

    def curve(self, paths: dict[str, Path], params: dict) -> tuple[str, dict] | None:
        """(kind, columns) of what a page draws of this analysis, from the raw files; None if nothing."""
        return None


def _store_curve(job, output: Output) -> None:
    if output.curve is not None:
        kind, data = output.curve
        result_curve_write(job=job, kind=kind, data=data)


class BlinkingRunner(Runner):
    """Wide-field PL movie -> per-particle blinking statistics and correlation maps (analysis.blinking)."""

    required_roles = ("movie",)
    allowed = {
        "bin_time_s",
        "pixel_size_um",
        "method",
        "threshold_fraction",
        "assembly_distance_um",
        "min_events",
        "chunk_frames",
        "n_sample_frames",
    }

    def normalise_parameters(self, params, *, run=None, measurement=None):
        unknown = set(params) - self.allowed
        if unknown:
            raise ValidationError(
                {"parameters": f"unknown blinking parameters: {', '.join(sorted(unknown))}"}
            )
        p = dict(params)
        bin_time = _q(p.get("bin_time_s"), "s", "bin_time_s")
        if bin_time is None and run is not None and run.exposure_time is not None:
            bin_time = float(run.exposure_time.to("s").magnitude)
        pixel = _q(p.get("pixel_size_um"), "um", "pixel_size_um")
        if pixel is None and run is not None and run.pixel_size is not None:
            pixel = float(run.pixel_size.to("um").magnitude)
        p["bin_time_s"] = _positive(bin_time, "bin_time_s")
        p["pixel_size_um"] = _positive(pixel, "pixel_size_um")
        p.setdefault("method", "threshold")
        if p["method"] not in ("threshold", "changepoint"):
            raise ValidationError({"method": f"{p['method']!r}: expected 'threshold' or 'changepoint'"})
        p["threshold_fraction"] = float(p.get("threshold_fraction", 0.5))
        if not 0 < p["threshold_fraction"] < 1:
            raise ValidationError({"threshold_fraction": "must be between 0 and 1 (0.5 is the paper's rule)"})
        for key in ("chunk_frames", "n_sample_frames", "min_events"):
            if key in p:
                p[key] = int(p[key])
                _positive(p[key], key)
        return {k: v for k, v in p.items() if v is not None}

    def analyse(self, paths, params, *, progress, scheduler):
        from analysis.blinking.pipeline import analyze_blinking_movie
        from analysis.movie import open_movie

        frames = open_movie(paths["movie"]).frames
        done = [0]

        def frames_done(n):
            done[0] += n
            progress(0.9 * done[0] / frames, f"{done[0]}/{frames} frames")

        progress(0.0, "detecting particles")
        result = analyze_blinking_movie(paths["movie"], client=dask_client(), progress=frames_done, **params)
        data = result.to_json()
        arrays = {
            "traces": np.asarray(result.traces, dtype=np.float32),
            "states": packed_states([a.states for a in result.analyses], movie_frames=result.movie.frames),
            "correlation_map": result.self_map(),
        }
        for ref in np.unique(np.asarray(result.pairs).ravel()):
            arrays[f"assembly_map_{int(ref) + 1}"] = result.assembly_map(int(ref))
        data["parameters"] = params
        data["analysis_version"] = analysis.__version__  # as the command line's JSON carries it
        return Output(
            data=jsonable(data),
            arrays=arrays,
            scheduler=dask_client().scheduler.address,
            summary=f"{len(data['particles'])} particles",
        )

    def write_results(self, job, output):
        d = output.data
        movie, pop = d["movie"], d["population"]
        n = len(d["particles"])
        classes = pop.get("classes", {})

        def share(*keys):
            return sum(classes.get(k, 0) for k in keys) / n if n else 0.0

        qtsb_keys = [k for k in classes if k.startswith("qTSB")]
        analysis = BlinkingAnalysis.objects.create(
            project=job.project,
            created_by=job.requested_by,
            job=job,
            run=job.run,
            parameters=job.parameters,
            payload={k: v for k, v in d.items() if k != "particles"},
            frames=movie["frames"],
            height=movie["height"],
            width=movie["width"],
            bin_time=movie["bin_time_s"],
            pixel_size=None if movie.get("pixel_size_um") is None else Quantity(movie["pixel_size_um"], "um"),
            n_particles=n,
            on_alpha=pop["on"]["alpha"],
            on_alpha_err=pop["on"]["alpha_err"],
            on_mu=pop["on"]["mu_per_s"],
            on_n_events=pop["on"]["n_events"],
            off_alpha=pop["off"]["alpha"],
            off_alpha_err=pop["off"]["alpha_err"],
            off_mu=pop["off"]["mu_per_s"],
            off_n_events=pop["off"]["n_events"],
            share_bb=share("BB"),
            share_bbb=share("BBB"),
            share_msb=share("MSB"),
            share_peb=share("PEB"),
            share_qtsb=share(*qtsb_keys),
            share_mostly_on=share("qTSB/mostly-on"),
            share_intermediate=share("qTSB/intermediate"),
            share_mostly_off=share("qTSB/mostly-off"),
            correlation_mean=_nanmean([p["correlation_mean"] for p in d["particles"]]),
        )
        Particle.objects.bulk_create(
            [
                Particle(
                    project=job.project,
                    created_by=job.requested_by,
                    analysis=analysis,
                    index=p["id"],
                    centroid_y_px=p["centroid_px"][0],
                    centroid_x_px=p["centroid_px"][1],
                    area_px=p["area_px"],
                    edge=_finite(p.get("edge_um")),
                    trace_class=p["class"],
                    subclass=p["subclass"] or "",
                    threshold=_finite(p["threshold"]),
                    fraction_on=_finite(p["fraction_on"]),
                    mean_on=_finite(p["mean_on_s"]),
                    mean_off=_finite(p["mean_off_s"]),
                    n_on=len(p["on_dwell_s"]),
                    n_off=len(p["off_dwell_s"]),
                    alpha_on=_finite(p["alpha_on"]),
                    alpha_on_err=_finite(p.get("alpha_on_err")),
                    mu_on=_finite(p["mu_on_per_s"]),
                    alpha_off=_finite(p["alpha_off"]),
                    alpha_off_err=_finite(p.get("alpha_off_err")),
                    mu_off=_finite(p["mu_off_per_s"]),
                    correlation_mean=_finite(p["correlation_mean"]),
                    on_dwell_s=p["on_dwell_s"],
                    off_dwell_s=p["off_dwell_s"],
                )
                for p in d["particles"]
            ],
            batch_size=500,
        )
        self.write_summary(analysis, d["particles"])
        for name, array in output.arrays.items():
            preview = array if array.ndim == 2 and name != "states" else None
            save_artifact(job, name, array, preview=preview)

    @staticmethod
    def write_summary(analysis, particles: list[dict]) -> None:
        """The particle summary the comparisons read, from the job's own output (plus the row ids)."""
        pk_of = dict(Particle.objects.filter(analysis=analysis).values_list("index", "pk"))
        columns = {
            "pk": [pk_of[p["id"]] for p in particles],
            "index": [p["id"] for p in particles],
            "alpha_on": [_finite(p["alpha_on"]) for p in particles],
            "alpha_off": [_finite(p["alpha_off"]) for p in particles],
            "mean_on_s": [_finite(p["mean_on_s"]) for p in particles],
            "mean_off_s": [_finite(p["mean_off_s"]) for p in particles],
            "fraction_on": [_finite(p["fraction_on"]) for p in particles],
            "correlation_mean": [_finite(p["correlation_mean"]) for p in particles],
            "edge_um": [_finite(p.get("edge_um")) for p in particles],
            "trace_class": [p["class"] for p in particles],
            "subclass": [p["subclass"] or "" for p in particles],
            "on_dwell_s": [p["on_dwell_s"] for p in particles],
            "off_dwell_s": [p["off_dwell_s"] for p in particles],
        }
        particle_summary_write(analysis=analysis, columns=columns)


def packed_states(states: list[np.ndarray], *, movie_frames: int) -> np.ndarray:
    """Every particle's ON/OFF path as the job computed it, frames x particles packed 8 frames a byte
    (``np.unpackbits(a, axis=0, count=frames)`` gives them back): the particle page draws these."""
    if not states:
        return np.zeros(((movie_frames + 7) // 8, 0), dtype=np.uint8)
    return np.packbits(np.stack([np.asarray(s, dtype=bool) for s in states], axis=1), axis=0)


def _finite(x):
    if x is None:
        return None
    x = float(x)
    return x if np.isfinite(x) else None


def _nanmean(values):
    arr = np.array([np.nan if v is None else v for v in values], dtype=float)
    return float(np.nanmean(arr)) if np.isfinite(arr).any() else None


class CommandRunner(Runner):
    """Runs one of analysis/'s commands in-process (``analysis.cli.run_command``): the job stores the
    same JSON contract other tools read from the command line, and queryable columns from it."""

    command = ""

    def argv(self, paths: dict[str, Path], params: dict) -> list[str]:
        raise NotImplementedError

    def analyse(self, paths, params, *, progress, scheduler):
        from analysis.cli import run_command

        progress(0.1, f"running {self.command}")
        data = run_command([self.command, *self.argv(paths, params)])
        data["parameters"] = params
        return Output(
            data=data, scheduler="in-process", summary=self.command, curve=self.curve(paths, params)
        )


def _result_fields(job, data: dict) -> dict:
    """What every result row of a job records: project, who asked, the job, parameters, output."""
    return {
        "project": job.project,
        "created_by": job.requested_by,
        "job": job,
        "parameters": job.parameters,
        "payload": data,
    }


def _check_known(params: dict, allowed: set[str], kind: str) -> dict:
    unknown = set(params) - allowed
    if unknown:
        raise ValidationError({"parameters": f"unknown {kind} parameters: {', '.join(sorted(unknown))}"})
    return dict(params)


class TRPLRunner(CommandRunner):
    """TCSPC decay (+ optional measured IRF) -> multi-exponential fit (analysis.lifetime).

    The fit is made by :func:`trpl_fit_call`, the one mapping from the job's parameters to
    ``fit_decay``; the job stores its JSON (the command line's contract, ``python -m analysis trpl``)
    and the model of that same fit, so a page never fits again."""

    command = "trpl"
    required_roles = ("decay",)

    def normalise_parameters(self, params, *, run=None, measurement=None):
        p = _check_known(params, {"components", "rep_rate_hz", "method", "tail", "fit_range_ns"}, "trpl")
        p["components"] = int(p.get("components", 3))
        if not 1 <= p["components"] <= 4:
            raise ValidationError({"components": f"{p['components']} components: expected 1-4"})
        rep = _q(p.get("rep_rate_hz"), "Hz", "rep_rate_hz")
        if rep is None and run is not None and run.repetition_rate is not None:
            rep = float(run.repetition_rate.to("Hz").magnitude)
        p["rep_rate_hz"] = _positive(rep, "rep_rate_hz")
        p["method"] = p.get("method", "mle")
        if p["method"] not in ("mle", "wls"):
            raise ValidationError({"method": f"{p['method']!r}: expected 'mle' or 'wls'"})
        p["tail"] = bool(p.get("tail", False))
        if p.get("fit_range_ns") is not None:
            p["fit_range_ns"] = _fit_range_ns(p["fit_range_ns"])
        return {k: v for k, v in p.items() if v is not None}

    def analyse(self, paths, params, *, progress, scheduler):
        progress(0.1, "fitting the decay")
        decay, fit, inputs = trpl_fit(paths, params)
        from analysis.commands.trpl import fit_json  # the command line's contract, the same JSON

        out = fit_json(fit)
        out.update(inputs)
        data = jsonable(with_version(out))
        data["parameters"] = params
        return Output(data=data, scheduler="in-process", summary=self.command, curve=decay_curve(decay, fit))

    def curve(self, paths, params):
        decay, fit, _ = trpl_fit(paths, params)
        return decay_curve(decay, fit)

    def write_results(self, job, output):
        d = output.data
        taus, amps = d["taus_ns"], d["amplitudes"]
        i_long = int(np.argmax(taus)) if taus else None
        LifetimeFit.objects.create(
            **_result_fields(job, d),
            run=job.run,
            n_components=len(taus),
            taus_ns=taus,
            taus_err_ns=d["taus_err_ns"],
            amplitudes=amps,
            tau_long=None if i_long is None else taus[i_long],
            amplitude_long=None if i_long is None else amps[i_long],
            tau_avg_amp=d["tau_avg_amp_ns"],
            tau_avg_int=d["tau_avg_int_ns"],
            chi2_red=d["chi2_red"],
        )
        _store_curve(job, output)


def _fit_range_ns(value) -> list[float]:
    """A fit range as [start, stop] in ns, from "5 ns:400 ns", "5:400" (ns) or a pair of quantities."""
    parts = value.split(":") if isinstance(value, str) else value
    if not isinstance(parts, (list, tuple)) or len(parts) != 2:
        raise ValidationError(
            {"fit_range_ns": f"{value!r}: give START:STOP, e.g. '5 ns:400 ns', or [start, stop]"}
        )
    start, stop = (_q(v, "ns", "fit_range_ns") for v in parts)
    if start is None or stop is None or not stop > start:
        raise ValidationError({"fit_range_ns": f"{value!r}: the stop must come after the start"})
    return [start, stop]


def trpl_fit_call(paths: dict[str, Path], params: dict):
    """The one mapping from a TRPL job's parameters and input files to ``analysis.lifetime.fit_decay``.

    Returns ``(decay, kwargs, inputs)``: the decay histogram read from ``paths["decay"]``, the
    keyword arguments of ``fit_decay`` (components, IRF: the measured one, a fitted Gaussian, or
    none for a tail fit; repetition rate from the parameters, else from the file; method; fit range)
    and what the result records about its inputs, as the command line does. The job's fit, its
    stored model curve and the backfill all go through here; nothing else maps parameters.
    """
    from analysis.readers import read_decay

    decay = read_decay(paths["decay"])
    rep_rate, rep_source = params.get("rep_rate_hz"), "--rep-rate"
    if rep_rate is None:
        rep_rate, rep_source = decay.rep_rate_hz, "file" if decay.rep_rate_hz is not None else "none"
    irf, irf_file = (None if params.get("tail") else "gaussian"), None
    if not params.get("tail") and "irf" in paths:
        irf_hist = read_decay(paths["irf"])
        if abs(irf_hist.bin_width_ns - decay.bin_width_ns) > 1e-4 * decay.bin_width_ns:
            raise AnalysisInputError(
                f"{paths['irf']}: IRF bin width {irf_hist.bin_width_ns:g} ns differs from the decay's "
                f"{decay.bin_width_ns:g} ns"
            )
        if irf_hist.counts.size != decay.counts.size:
            raise AnalysisInputError(
                f"{paths['irf']}: IRF has {irf_hist.counts.size} bins, the decay {decay.counts.size}"
            )
        irf, irf_file = irf_hist.counts, str(paths["irf"])
    fit_range = params.get("fit_range_ns")
    kwargs = {
        "n_components": int(params["components"]),
        "irf": irf,
        "rep_rate_hz": rep_rate,
        "method": params.get("method", "mle"),
        "fit_range_ns": None if fit_range is None else (float(fit_range[0]), float(fit_range[1])),
    }
    inputs = {
        "file": str(paths["decay"]),
        "irf_file": irf_file,
        "n_components": kwargs["n_components"],
        "rep_rate_source": rep_source,  # "none": no pile-over correction was applied
    }
    return decay, kwargs, inputs


def trpl_fit(paths: dict[str, Path], params: dict):
    """(decay, DecayFit, inputs): the job's fit, through :func:`trpl_fit_call`."""
    from analysis.lifetime import fit_decay

    decay, kwargs, inputs = trpl_fit_call(paths, params)
    return decay, fit_decay(decay.time_ns, decay.counts, **kwargs), inputs


def decay_curve(decay, fit) -> tuple[str, dict]:
    """The decay and its fitted model (``fit.model_counts``, defined on the fitted bins only: a tail
    fit's exponentials are not drawn back over the rise) for the pages, decimated together."""
    t = np.asarray(decay.time_ns, dtype=float)
    half = 0.5 * float(decay.bin_width_ns)
    fitted = (t >= fit.fit_start_ns - half) & (t < fit.fit_stop_ns - half)
    model = np.where(fitted, np.asarray(fit.model_counts, dtype=float), np.nan)
    data = curve_columns({"time_ns": t, "counts": decay.counts, "model": model}, along="counts")
    data.update(
        fit_start_ns=fit.fit_start_ns,
        fit_stop_ns=fit.fit_stop_ns,
        irf_mode=fit.irf_mode,
        method=fit.method,
        n_components=fit.n_components,
    )
    return "decay", data


class PhotodetectorRunner(CommandRunner):
    """Keithley photoresponse or I-V file -> device metrics (analysis.photodetector)."""

    command = "photodetector"
    required_roles = ("data",)

    def normalise_parameters(self, params, *, run=None, measurement=None):
        p = _check_known(params, {"area_cm2", "power_w_per_cm2", "bias_v"}, "photodetector")
        area = _q(p.get("area_cm2"), "cm^2", "area_cm2")
        if area is None and measurement is not None:
            area = float(measurement.device.active_area.to("cm^2").magnitude)
        power = _q(p.get("power_w_per_cm2"), "W/cm^2", "power_w_per_cm2")
        if power is None and measurement is not None and measurement.illumination_power_density is not None:
            power = float(measurement.illumination_power_density.to("W/cm^2").magnitude)
        bias = _q(p.get("bias_v"), "V", "bias_v")
        if bias is None and measurement is not None and measurement.bias is not None:
            bias = float(measurement.bias.to("V").magnitude)
        out = {
            "area_cm2": _positive(area, "area_cm2"),
            "power_w_per_cm2": _positive(power, "power_w_per_cm2"),
            "bias_v": 1.0 if bias is None else bias,
        }
        return {k: v for k, v in out.items() if v is not None}

    def argv(self, paths, params):
        argv = [paths["data"], f"--bias={params['bias_v']}V"]  # "=": a negative bias is not an option
        if "area_cm2" in params:
            argv += ["--area", f"{params['area_cm2']}cm^2"]
        if "power_w_per_cm2" in params:
            argv += ["--power", f"{params['power_w_per_cm2']}W/cm^2"]
        return argv

    def write_results(self, job, output):
        d = output.data
        DeviceMetrics.objects.create(
            **_result_fields(job, d),
            measurement=job.measurement,
            dark_current=d.get("dark_current_A"),
            photocurrent=d.get("photocurrent_A"),
            on_off_ratio=d.get("on_off_ratio"),
            rise_time=d.get("rise_time_s"),
            fall_time=d.get("fall_time_s"),
            responsivity=d.get("responsivity_A_per_W"),
            stability_cv=d.get("photocurrent_cv"),
        )
        _store_curve(job, output)

    def curve(self, paths, params):
        from analysis.readers import read_electrical

        e = read_electrical(paths["data"])
        if e.is_time_series:
            return "photoresponse", curve_columns(
                {"time_s": e.time_s, "current_A": e.current_A}, along="current_A"
            )
        if e.is_iv:
            dark, light = e.current_dark_A, e.current_light_A
            cols = {"voltage_V": e.voltage_V, "dark_A": dark, "light_A": light}
            if dark is None and light is None:
                cols["current_A"] = e.current_A
            along = next(k for k in ("light_A", "dark_A", "current_A") if cols.get(k) is not None)
            return "iv", curve_columns(cols, along=along)
        return None


class SpectrumRunner(CommandRunner):
    """PL or absorption spectrum -> peak, FWHM, Tauc band gap (analysis.spectra)."""

    command = "spectrum"
    required_roles = ("data",)

    def normalise_parameters(self, params, *, run=None, measurement=None):
        p = _check_known(params, {"kind"}, "spectrum")
        kind = p.get("kind") or {"pl": "pl", "uvvis": "abs"}.get(getattr(run, "technique", ""), None)
        if kind not in ("pl", "abs"):
            raise ValidationError(
                {"kind": "say whether the spectrum is 'pl' (emission) or 'abs' (absorbance)"}
            )
        return {"kind": kind}

    def argv(self, paths, params):
        return [paths["data"], "--kind", params["kind"]]

    def write_results(self, job, output):
        d = output.data
        SpectrumResult.objects.create(
            **_result_fields(job, d),
            run=job.run,
            spectrum_kind=d["kind"],
            peak_wavelength=d.get("peak_nm"),
            peak_energy=d.get("peak_ev"),
            fwhm=d.get("fwhm_nm"),
            integrated_intensity=d.get("integrated_intensity"),
            band_gap=d.get("band_gap_ev"),
        )
        _store_curve(job, output)

    def curve(self, paths, params):
        from analysis.readers import read_spectrum

        sp = read_spectrum(paths["data"])
        data = curve_columns(
            {"wavelength_nm": sp.wavelength_nm, "intensity": sp.intensity}, along="intensity"
        )
        data.update(spectrum_kind=params["kind"], y_label=sp.y_label)
        return "spectrum", data


class XRDRunner(CommandRunner):
    """XRD scan -> peaks and phase flags (MAPbCl3 near 15.6 deg marks over-treatment; analysis.xrd)."""

    command = "xrd"
    required_roles = ("data",)

    def normalise_parameters(self, params, *, run=None, measurement=None):
        p = _check_known(params, {"tolerance_deg"}, "xrd")
        tol = _q(p.get("tolerance_deg"), "deg", "tolerance_deg")
        return {} if tol is None else {"tolerance_deg": _positive(tol, "tolerance_deg")}

    def argv(self, paths, params):
        argv = [paths["data"]]
        if "tolerance_deg" in params:
            argv += ["--tolerance", f"{params['tolerance_deg']}deg"]
        return argv

    def write_results(self, job, output):
        d = output.data
        flags = d.get("phase_flags", {})
        XRDResult.objects.create(
            **_result_fields(job, d),
            run=job.run,
            peaks=d["peaks"],
            phases=d.get("phases", {}),
            mapbi3_detected=bool(flags.get("MAPbI3")),
            mapbcl3_detected=bool(flags.get("MAPbCl3")),
        )
        _store_curve(job, output)

    def curve(self, paths, params):
        from analysis.readers import read_xrd

        x = read_xrd(paths["data"])
        return "xrd", curve_columns(
            {"two_theta_deg": x.two_theta_deg, "intensity": x.intensity}, along="intensity"
        )


RUNNERS: dict[str, Runner] = {
    "blinking": BlinkingRunner(),
    "trpl": TRPLRunner(),
    "photodetector": PhotodetectorRunner(),
    "spectrum": SpectrumRunner(),
    "xrd": XRDRunner(),
}
