"""The demo series: the paper's 0/3/9/17 % Cl study, recorded through the services.

``fixtures/paper_series.json`` says what the lab did; :func:`load_paper_series` records it the way
a researcher would (syntheses, pool, split, stock, treatments, samples, runs, devices), so every
derived value (iodide per portion, Cl:I, ethanol fraction) is computed by the domain code. Raw
files named there come from ``fixtures/demo/`` and are synthetic (see its README.txt).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from labbook.characterization import services as runs
from labbook.devices import services as devices
from labbook.files.services import raw_files_attach
from labbook.notebook import services as notebook
from labbook.projects.models import Membership, Project, Role
from labbook.synthesis import services
from labbook.synthesis.models import PostTreatment

FIXTURES = Path(settings.BASE_DIR) / "fixtures"
SERIES = FIXTURES / "paper_series.json"
DEMO_FILES = FIXTURES / "demo"


# Synthetic blinking movies, one per treatment, from the realistic microscope simulator with the
# paper's physics per treatment (analysis.simulate.PAPER_PRESETS: exponents, mean ON time, class
# mixture and the mostly-on share of the two-state crystals).
DEMO_MOVIES = {
    0: dict(preset=0, seed=200),
    3: dict(preset=3, seed=203),
    9: dict(preset=9, seed=209),
    17: dict(preset=17, seed=217),
}


def make_demo_movie(
    path: Path, pct: int, *, frames: int = 2400, size: int = 96, n_particles: int = 20, workers: int = 2
) -> Path:
    """Write the synthetic blinking movie of the ``pct`` % Cl demo sample (deterministic).

    A wide-field EM-CCD movie from :func:`analysis.simulate.simulate_realistic_movie` (Gaussian beam,
    background gradient and decay, hot pixels, debris, sub-pixel drift, log-normal brightness), with
    the treatment's preset; ``workers`` threads draw the noise (the frames do not depend on it).
    """
    from analysis import simulate

    movie, _truth = simulate.simulate_realistic_movie(frames, (size, size), n_particles, **DEMO_MOVIES[pct])
    path.parent.mkdir(parents=True, exist_ok=True)
    simulate.write_movie_tiff(path, movie, workers=workers)
    return path


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _demo_file(name: str) -> Path:
    path = DEMO_FILES / name
    if not path.exists():
        raise FileNotFoundError(
            f"demo raw file {path} is missing; run fixtures/generate_demo_instrument_files.py"
        )
    return path


def _attach(user, target, paths, *, description: str = "SYNTHETIC demo data (generated, not measured)"):
    """The demo's files go in through the one upload path of every door."""
    return raw_files_attach(
        user=user, target=target, files=paths, description=description, reason="demo series"
    )


@transaction.atomic
def load_paper_series(*, user, path: Path = SERIES, with_files: bool = True) -> Project:
    """Record the paper's series in a new project owned by ``user`` (an admin member of it)."""
    spec = json.loads(Path(path).read_text())
    project = Project.objects.create(**spec["project"])
    Membership.objects.create(project=project, user=user, role=Role.ADMIN)
    p = dict(project=project, user=user)

    chems = {}
    for c in spec["chemicals"]:
        c = dict(c)
        key = c.pop("key")
        chems[key] = services.chemical_create(**p, **c)

    syn = spec["syntheses"]
    recipe = dict(syn["recipe"])
    for key in ("pbi2", "mai"):
        recipe[key] = chems[recipe[key]]
    batches = [
        services.synthesis_create(**p, code=code, date=_date(syn["date"]), **recipe) for code in syn["codes"]
    ]

    pool_spec = spec["pool"]
    pool = services.batches_pool(
        **p, code=pool_spec["code"], date=_date(pool_spec["date"]), parents=batches, notes=pool_spec["notes"]
    )
    por = spec["portions"]
    portions = services.batch_split(
        parent=pool,
        date=_date(por["date"]),
        user=user,
        portions=[
            services.PortionSpec(code=c, fraction=por["fraction"], volume=por["volume"]) for c in por["codes"]
        ],
    )

    st = dict(spec["stock"])
    st["salt"] = chems[st["salt"]]
    stock = services.stock_create(**p, **{**st, "date": _date(st["date"])})

    common = spec["treatment_common"]
    treatments = {}
    for t in spec["treatments"]:
        t = dict(t)
        batch = portions[t.pop("portion")]
        treatments[t["code"]] = services.treatment_create(
            batch=batch,
            stock=stock,
            user=user,
            date=_date(common["date"]),
            stirring_time=common["stirring_time"],
            stirring_speed=common["stirring_speed"],
            **t,
        )

    samples = {}
    for code, treatment in treatments.items():
        pct = int(treatment.nominal_cl_percent)
        for s in spec["samples_per_treatment"]:
            s = dict(s)
            suffix = s.pop("suffix")
            samples[(code, suffix)] = services.sample_create(
                batch=treatment.batch,
                treatment=treatment,
                user=user,
                code=f"S-{pct}Cl-{suffix}",
                date=_date(common["date"]) + dt.timedelta(days=1),
                **s,
            )
        for r in spec["runs_per_treatment"]:
            r = dict(r)
            files = r.pop("files")
            sample = samples[(code, r.pop("sample"))]
            run = runs.run_create(
                user=user,
                operator=user,
                sample=sample,
                code=f"R-{pct}Cl-{r.pop('suffix')}",
                date=sample.date + dt.timedelta(days=1),
                reason="demo series",
                **r,
            )
            if with_files:
                if files:
                    _attach(user, run, [_demo_file(f.format(pct=pct)) for f in files])
                if run.technique == "blinking":
                    movie = make_demo_movie(
                        Path(settings.MEDIA_ROOT) / "demo-movies" / f"blinking_{pct}pct_cl.tif", pct
                    )
                    _attach(
                        user,
                        run,
                        [movie],
                        description="SYNTHETIC demo movie (analysis.simulate, fixed seed), not measured",
                    )
                    movie.unlink()

    dc = spec["device_common"]
    for d in spec["devices"]:
        treatment = treatments[d["treatment"]]
        powder = services.sample_create(
            batch=treatment.batch,
            treatment=treatment,
            user=user,
            code=f"S-{int(treatment.nominal_cl_percent)}Cl-powder",
            kind="powder",
            date=_date(d["fabricated_on"]) - dt.timedelta(days=1),
            notes="collected through multiple syntheses, dried in vacuum for 12 h",
        )
        device = devices.device_create(
            user=user,
            project=project,
            operator=user,
            code=d["code"],
            active_area=d["active_area"],
            fabricated_on=_date(d["fabricated_on"]),
            architecture=dc["architecture"],
            layers=dc["layers"],
            notes=dc["notes"],
            samples=[powder],
            reason="demo series",
        )
        for m in dc["measurements"]:
            m = dict(m)
            meas = devices.measurement_create(
                user=user,
                device=device,
                operator=user,
                reason="demo series",
                **{**m, "date": _date(m["date"])},
            )
            if with_files and d["files"].get(m["kind"]):
                _attach(user, meas, [_demo_file(f) for f in d["files"][m["kind"]]])

    for e in spec["entries"]:
        notebook.entry_create(
            user=user,
            project=project,
            title=e["title"],
            body=e["body"],
            treatments=list(PostTreatment.objects.filter(project=project, code__in=e["treatments"])),
            reason="demo series",
        )
    return project


def demo_user(username: str = "demo", password: str = "demo-perovskite"):
    """The demo's superuser (created once)."""
    User = get_user_model()
    user, created = User.objects.get_or_create(
        username=username, defaults={"is_staff": True, "is_superuser": True, "email": "demo@example.org"}
    )
    if created:
        user.set_password(password)
        user.save()
    return user, created
