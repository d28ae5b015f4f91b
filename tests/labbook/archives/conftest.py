import base64
import datetime as dt
import io
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from analysis import simulate
from labbook.characterization.models import CharacterizationRun
from labbook.demo import DEMO_FILES, load_paper_series
from labbook.devices.models import Device, DeviceMeasurement
from labbook.files.services import raw_file_store
from labbook.jobs.models import AnalysisJob, JobStatus
from labbook.jobs.services import job_execute, job_submit
from labbook.notebook.models import NotebookEntry
from labbook.projects.models import Membership, Project, Role
from labbook.synthesis import services
from tests.labbook.factories import UserFactory


@pytest.fixture
def signing_key(settings, tmp_path):
    """A fresh Ed25519 key per test, from the environment setting (as in production)."""
    raw = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    settings.ARCHIVE_SIGNING_KEY = base64.b64encode(raw).decode()
    settings.VAR_DIR = tmp_path / "var"
    return settings.ARCHIVE_SIGNING_KEY


@pytest.fixture
def admin_user():
    return UserFactory(username="curator", is_staff=True)


def _build_small_series(user) -> Project:
    """The paper's study in miniature, through the services like the demo loader: two syntheses
    pooled and split in two portions, a MACl stock, a 0 % and a 3 % treatment (derived Cl:I),
    samples, runs and a device measurement with small raw files, a notebook entry."""
    project = Project.objects.create(name="Mini chloride study", slug="mini-chloride")
    Membership.objects.create(project=project, user=user, role=Role.ADMIN)
    p = dict(project=project, user=user)
    day = dt.date(2022, 10, 3)
    pbi2 = services.chemical_create(
        **p, name="lead iodide", formula="PbI2", molar_mass="461.01 g/mol", cas="10101-63-0"
    )
    mai = services.chemical_create(
        **p, name="methylammonium iodide", formula="CH3NH3I", molar_mass="158.97 g/mol"
    )
    macl = services.chemical_create(
        **p, name="methylammonium chloride", molar_mass="67.52 g/mol", purity="98 %"
    )
    recipe = dict(
        pbi2=pbi2,
        pbi2_amount="0.04 mmol",
        mai=mai,
        mai_amount="0.12 mmol",
        mai_mass="18.8 +/- 0.1 mg",
        precursor_solvent_volume="20 mL",
        injection_volume="1.3 mL",
        temperature="22 degC",
        stirring_speed="600 rpm",
    )
    batches = [services.synthesis_create(**p, code=f"MINI-{i}", date=day, **recipe) for i in (1, 2)]
    pool = services.batches_pool(**p, code="MINI-POOL", date=day, parents=batches, volume="8 mL")
    portions = services.batch_split(
        parent=pool,
        date=day,
        user=user,
        portions=[services.PortionSpec(code=f"MINI-P{i}", fraction=0.5, volume="4 mL") for i in (1, 2)],
    )
    stock = services.stock_create(
        **p,
        code="MACl-1",
        date=day,
        salt=macl,
        salt_mass="13.6 mg",
        salt_amount="200 umol",
        solvent_volume="0.5 mL",
    )
    treatments = [
        services.treatment_create(
            batch=portion,
            stock=stock,
            user=user,
            code=f"T-{pct}Cl",
            date=day,
            volume_added=volume,
            nominal_cl_percent=pct,
            stirring_time="30 min",
            stirring_speed="600 rpm",
        )
        for portion, pct, volume in zip(portions, (0, 3), ("0 uL", "2.5 uL"), strict=True)
    ]
    store = lambda name, data: raw_file_store(  # noqa: E731
        project=project, fileobj=io.BytesIO(data), original_name=name, user=user
    )
    for t, files in zip(
        treatments,
        [
            [("trpl_0pct.csv", b"t_ns,counts\n0,1\n0.1,250\n"), ("irf.csv", b"0,1\n")],
            [("pl_3pct.csv", bytes(range(256)) * 4)],
        ],
        strict=True,
    ):
        sample = services.sample_create(batch=t.batch, treatment=t, user=user, code=f"S-{t.code}", date=day)
        run = CharacterizationRun(
            project=project,
            created_by=user,
            sample=sample,
            code=f"R-{t.code}",
            technique="trpl",
            date=day,
            excitation_wavelength="405 nm",
            repetition_rate="2.5 MHz",
            extra_settings={"filter": "705-755 nm"},
        )
        run.full_clean()
        run.save()
        run.raw_files.set([store(name, data) for name, data in files])
    powder = services.sample_create(
        batch=treatments[1].batch,
        treatment=treatments[1],
        user=user,
        code="S-powder",
        kind="powder",
        date=day,
    )
    device = Device(
        project=project,
        created_by=user,
        code="PD-3Cl",
        active_area="0.04 cm^2",
        fabricated_on=day,
        layers=[{"material": "Al", "thickness": "200 nm"}],
    )
    device.full_clean()
    device.save()
    device.samples.set([powder])
    meas = DeviceMeasurement(
        project=project, created_by=user, device=device, kind="dark_iv", date=day, bias="-1 V"
    )
    meas.full_clean()
    meas.save()
    meas.raw_files.set([store("iv.csv", b"V,I\n-1,-1e-9\n1,2e-6\n")])
    entry = NotebookEntry.objects.create(
        project=project, created_by=user, author=user, title="Cl series", body="# ok"
    )
    entry.treatments.set(treatments)
    return project


@pytest.fixture
def series(admin_user):
    """A small study with every kind of record and four small raw files; admin_user is its
    project admin. (The demo's full series would make every test several seconds slower.)"""
    return _build_small_series(admin_user)


@pytest.fixture
def paper_series(admin_user):
    """The paper's full demo series (no raw files)."""
    return load_paper_series(user=admin_user, with_files=False)


def _store(project, path: Path, user):
    with path.open("rb") as fh:
        return raw_file_store(project=project, fileobj=fh, original_name=path.name, user=user)


@pytest.fixture
def analysed(paper_series, admin_user, tmp_path):
    """The demo series with a blinking analysis of a small simulated movie, a TRPL fit and an XRD
    result, each run as the worker would."""
    movie = simulate.simulate_movie(
        300, (32, 32), n_particles=3, kinds=("qTSB", "BB"), edge_px=(3,), spacing_px=8, seed=4,
        alpha_on=1.0, alpha_off=1.0, mu_on_per_s=0.3, mu_off_per_s=0.3,
    )  # fmt: skip
    simulate.write_movie_tiff(tmp_path / "m.tif", movie)
    jobs = [
        job_submit(
            kind="blinking",
            files={"movie": _store(paper_series, tmp_path / "m.tif", admin_user)},
            run=CharacterizationRun.objects.get(project=paper_series, code="R-3Cl-BLINK"),
            user=admin_user,
        ),
        job_submit(
            kind="trpl",
            files={
                "decay": _store(paper_series, DEMO_FILES / "trpl_3pct_cl.csv", admin_user),
                "irf": _store(paper_series, DEMO_FILES / "trpl_irf.csv", admin_user),
            },
            run=CharacterizationRun.objects.get(project=paper_series, code="R-3Cl-TRPL"),
            user=admin_user,
        ),
        job_submit(
            kind="xrd",
            files={"data": _store(paper_series, DEMO_FILES / "xrd_17pct_cl.xrdml", admin_user)},
            run=CharacterizationRun.objects.get(project=paper_series, code="R-17Cl-XRD"),
            user=admin_user,
        ),
    ]
    for job in jobs:
        assert job_execute(job.pk) == JobStatus.SUCCEEDED, AnalysisJob.objects.get(pk=job.pk).log
    return paper_series
