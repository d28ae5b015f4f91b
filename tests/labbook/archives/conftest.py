import pytest

from labbook.demo import load_paper_series
from tests.labbook.factories import UserFactory


@pytest.fixture
def signing_key(settings, tmp_path):
    """A fresh Ed25519 key per test, from the environment setting (as in production)."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    raw = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    settings.ARCHIVE_SIGNING_KEY = base64.b64encode(raw).decode()
    settings.VAR_DIR = tmp_path / "var"
    return settings.ARCHIVE_SIGNING_KEY


@pytest.fixture
def admin_user():
    return UserFactory(username="curator", is_staff=True)


@pytest.fixture
def series(admin_user):
    """The paper's series with three small raw files on its runs and a device measurement;
    admin_user is its project admin. (The demo's own files would make every test slower.)"""
    import io

    from labbook.characterization.models import CharacterizationRun
    from labbook.devices.models import DeviceMeasurement
    from labbook.files.services import raw_file_store

    project = load_paper_series(user=admin_user, with_files=False)
    store = lambda name, data: raw_file_store(  # noqa: E731
        project=project, fileobj=io.BytesIO(data), original_name=name, user=admin_user
    )
    runs = list(CharacterizationRun.objects.filter(project=project).order_by("code")[:2])
    runs[0].raw_files.set(
        [store("trpl_3pct.csv", b"t_ns,counts\n0,1\n0.1,250\n"), store("irf.csv", b"0,1\n")]
    )
    runs[1].raw_files.set([store("pl.csv", bytes(range(256)) * 4)])
    meas = DeviceMeasurement.objects.filter(project=project).first()
    meas.raw_files.set([store("iv.csv", b"V,I\n-1,-1e-9\n1,2e-6\n")])
    return project
