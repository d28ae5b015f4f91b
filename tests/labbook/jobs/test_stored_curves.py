"""What the pages draw is computed by the job and stored with its result (issues 12 and 16): the TRPL
model is the model of the job's own fit (``analysis.lifetime.fit_decay`` with the job's parameters:
weighted fits stay weighted, tail fits have no IRF, the fit range is kept), the instrument curves are
decimated copies of the raw data, and a blinking job stores its particle summary and ON/OFF paths."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import lifetime, readers
from analysis.cli import run_command
from labbook.characterization.models import CharacterizationRun
from labbook.demo import DEMO_FILES, load_paper_series
from labbook.files.services import raw_file_store
from labbook.jobs.models import AnalysisJob, JobStatus
from labbook.jobs.services import job_execute, job_submit
from labbook.projects.models import Project
from labbook.results.models import LifetimeFit, ParticleSummary, ResultCurve
from labbook.results.summaries import MAX_CURVE_POINTS
from tests.labbook.factories import UserFactory
from tests.labbook.shared import rolled_back

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def _series_data(django_db_setup, django_db_blocker):
    """The series, built once for this module (tests/labbook/shared.py)."""
    with rolled_back(django_db_blocker):
        yield load_paper_series(user=UserFactory(), with_files=False).pk


@pytest.fixture
def series(_series_data, db):
    return Project.objects.get(pk=_series_data)


def _store(project, name: str):
    path = DEMO_FILES / name
    with path.open("rb") as fh:
        return raw_file_store(project=project, fileobj=fh, original_name=path.name)


def _trpl_job(series, parameters: dict, *, irf: bool = True):
    run = CharacterizationRun.objects.get(code="R-3Cl-TRPL")
    files = {"decay": _store(series, "trpl_3pct_cl.csv")}
    if irf:
        files["irf"] = _store(series, "trpl_irf.csv")
    job = job_submit(kind="trpl", files=files, run=run, parameters=parameters, force=True)
    assert job_execute(job.pk) == JobStatus.SUCCEEDED, AnalysisJob.objects.get(pk=job.pk).log
    return job


def _stored_model(job) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    curve = ResultCurve.objects.get(job=job)
    assert curve.kind == "decay"
    d = curve.data
    as_float = lambda xs: np.array([np.nan if x is None else x for x in xs], dtype=float)  # noqa: E731
    return as_float(d["time_ns"]), as_float(d["counts"]), as_float(d["model"])


def _expected(*, components=3, method="mle", irf="measured", rep_rate_hz=1e6, fit_range_ns=None):
    decay = readers.read_decay(DEMO_FILES / "trpl_3pct_cl.csv")
    irf_arg = {"measured": readers.read_decay(DEMO_FILES / "trpl_irf.csv").counts, "none": None}.get(irf, irf)
    fit = lifetime.fit_decay(
        decay.time_ns,
        decay.counts,
        components,
        irf=irf_arg,
        rep_rate_hz=rep_rate_hz,
        method=method,
        fit_range_ns=fit_range_ns,
    )
    return decay, fit


def _check_model_is_the_fits(job, decay, fit):
    t, counts, model = _stored_model(job)
    assert decay.time_ns.size > t.size >= MAX_CURVE_POINTS // 2  # decimated, still a few thousand points
    idx = np.searchsorted(decay.time_ns, t)
    assert np.allclose(decay.time_ns[idx], t) and np.array_equal(decay.counts[idx], counts)
    inside = (t >= fit.fit_start_ns - 1e-9) & (t < fit.fit_stop_ns - 1e-9)
    # the model on the fitted bins is the fit's, to the last digit; nothing is drawn outside them
    np.testing.assert_allclose(model[inside], fit.model_counts[idx][inside], rtol=1e-12)
    assert np.isnan(model[~inside]).all()
    stored = LifetimeFit.objects.get(job=job)
    np.testing.assert_allclose(stored.taus_ns, fit.taus_ns, rtol=1e-12)
    return t, inside


def test_a_weighted_fit_is_stored_with_its_own_model(series):
    job = _trpl_job(series, {"method": "wls", "components": 3})
    decay, fit = _expected(method="wls")
    assert fit.method == "neyman-chi2"
    _check_model_is_the_fits(job, decay, fit)
    assert LifetimeFit.objects.get(job=job).payload["method"] == "neyman-chi2"


def test_a_tail_fit_has_no_irf_and_its_model_only_covers_the_tail(series):
    job = _trpl_job(series, {"tail": True, "components": 2})  # an IRF file is attached, and not used
    decay, fit = _expected(components=2, irf="none")
    assert fit.irf_mode == "tail"
    t, inside = _check_model_is_the_fits(job, decay, fit)
    assert t[inside].min() > decay.time_ns[np.argmax(decay.counts)]  # after the peak: no rise drawn
    assert ResultCurve.objects.get(job=job).data["irf_mode"] == "tail"


def test_the_fit_range_is_kept(series):
    job = _trpl_job(series, {"components": 3, "fit_range_ns": "20 ns:300 ns"})
    assert job.parameters["fit_range_ns"] == [20.0, 300.0]
    decay, fit = _expected(fit_range_ns=(20.0, 300.0))
    t, inside = _check_model_is_the_fits(job, decay, fit)
    assert t[inside].min() >= 20.0 and t[inside].max() < 300.0
    assert LifetimeFit.objects.get(job=job).payload["fit_start_ns"] == pytest.approx(20.0)


def test_the_trpl_job_stores_the_command_lines_json(series):
    """The job fits in-process through the one parameter mapping; its JSON is the command line's."""
    job = _trpl_job(series, {"method": "wls", "components": 2})
    stored = LifetimeFit.objects.get(job=job).payload
    cli = run_command(
        [
            "trpl",
            DEMO_FILES / "trpl_3pct_cl.csv",
            "--irf",
            DEMO_FILES / "trpl_irf.csv",
            "--components",
            "2",
            "--method",
            "wls",
            "--rep-rate",
            "1000000.0Hz",
        ]  # fmt: skip
    )
    paths = {"file", "irf_file"}
    assert set(stored) - {"parameters"} == set(cli)
    for key, value in cli.items():
        if key not in paths:
            assert (
                stored[key] == pytest.approx(value, rel=1e-9, nan_ok=True)
                if isinstance(value, float)
                else (stored[key] == value)
            ), key


def test_bad_fit_ranges_are_refused(series):
    from django.core.exceptions import ValidationError

    run = CharacterizationRun.objects.get(code="R-3Cl-TRPL")
    decay = _store(series, "trpl_3pct_cl.csv")
    for bad in ("300 ns:20 ns", "20 ns", "20 mg:30 mg"):
        with pytest.raises(ValidationError, match="fit_range_ns"):
            job_submit(kind="trpl", files={"decay": decay}, run=run, parameters={"fit_range_ns": bad})


def test_instrument_jobs_store_decimated_curves(series):
    spectra = {
        "xrd": ("R-17Cl-XRD", "xrd_17pct_cl.xrdml", "two_theta_deg", readers.read_xrd),
        "spectrum": ("R-3Cl-PL", "pl_3pct_cl.csv", "wavelength_nm", readers.read_spectrum),
    }
    for kind, (code, name, x, read) in spectra.items():
        run = CharacterizationRun.objects.get(code=code)
        job = job_submit(kind=kind, files={"data": _store(series, name)}, run=run)
        assert job_execute(job.pk) == JobStatus.SUCCEEDED
        curve = ResultCurve.objects.get(job=job)
        raw = read(DEMO_FILES / name)
        assert curve.kind == kind and curve.n_points_raw == raw.intensity.size
        assert len(curve.data[x]) == min(raw.intensity.size, len(curve.data[x])) <= MAX_CURVE_POINTS + 3
        assert max(curve.data["intensity"]) == pytest.approx(float(raw.intensity.max()))  # peaks survive


@pytest.mark.slow
def test_a_blinking_job_stores_its_summary_and_states(series, tmp_path):
    from analysis import simulate
    from labbook.results.models import BlinkingAnalysis, Particle
    from labbook.results.services import particle_columns, particle_summary_data

    mv = simulate.simulate_movie(600, (48, 48), n_particles=4, kinds=("qTSB", "BB"), edge_px=(3,), spacing_px=8,
                                 seed=4, alpha_on=1.0, alpha_off=1.0, mu_on_per_s=0.3, mu_off_per_s=0.3)  # fmt: skip
    simulate.write_movie_tiff(tmp_path / "m.tif", mv)
    with (tmp_path / "m.tif").open("rb") as fh:
        raw = raw_file_store(project=series, fileobj=fh, original_name="m.tif")
    job = job_submit(
        kind="blinking", files={"movie": raw}, run=CharacterizationRun.objects.get(code="R-3Cl-BLINK")
    )
    assert job_execute(job.pk) == JobStatus.SUCCEEDED
    analysis = BlinkingAnalysis.objects.get(job=job)
    summary = ParticleSummary.objects.get(analysis=analysis)
    assert summary.n_particles == analysis.n_particles == Particle.objects.filter(analysis=analysis).count()
    # the job's summary is what the particle rows give (the backfill's source)
    from_rows = particle_summary_data(analysis, particle_columns([analysis.pk])[analysis.pk])
    for field in ("n_particles", "stats", "class_counts", "histograms", "dwells", "points"):
        assert getattr(summary, field) == from_rows[field], field
    assert summary.fits["on"]["alpha"] == analysis.on_alpha and summary.fits["on"]["curve"] is not None
    # the ON/OFF path of every particle, as the job segmented it
    states = job.artifacts.get(name="states").load()
    assert states.shape == ((600 + 7) // 8, analysis.n_particles) and states.dtype == np.uint8
    p = Particle.objects.get(analysis=analysis, index=1)
    path = np.unpackbits(states[:, 0], count=600).astype(bool)
    assert path.mean() == pytest.approx(p.fraction_on)
