"""Two requests storing the same new content at once: the second finds the first one's blob half
written (FileSystemStorage writes in place) and waits for it instead of refusing the upload (a 400 for
one of 20 identical concurrent uploads on PostgreSQL, tests/labbook/jobs/test_concurrent_requests.py)."""

import hashlib
import io
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from labbook.files import services
from labbook.files.models import RawFile, blob_name
from tests.labbook.factories import ProjectFactory

pytestmark = pytest.mark.django_db

CONTENT = b"wavelength_nm,counts\n" + b"".join(b"%d,%d\n" % (700 + i, i * i % 997) for i in range(4000))


@pytest.fixture
def half_written_blob():
    """The first half of CONTENT's blob, as another request is writing it; removed afterwards (the
    media folder is the session's: other tests count its files)."""
    path = Path(settings.MEDIA_ROOT) / blob_name(hashlib.sha256(CONTENT).hexdigest())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(CONTENT[: len(CONTENT) // 2])
    yield path
    path.unlink(missing_ok=True)


def test_a_blob_another_request_is_writing_is_waited_for(half_written_blob):
    project = ProjectFactory()
    path = half_written_blob

    def finish():  # the other request's last chunks
        time.sleep(0.3)
        with path.open("ab") as fh:
            fh.write(CONTENT[len(CONTENT) // 2 :])

    writer = threading.Thread(target=finish)
    writer.start()
    try:
        raw = services.raw_file_store(project=project, fileobj=io.BytesIO(CONTENT), original_name="pl.csv")
    finally:
        writer.join()
    assert raw.size == len(CONTENT) and path.read_bytes() == CONTENT


def test_a_blob_that_never_completes_is_refused_after_the_wait(half_written_blob, monkeypatch):
    monkeypatch.setattr(services, "BLOB_WAIT_S", 0.2)
    project = ProjectFactory()
    with pytest.raises(ValidationError, match="does not match its SHA-256"):
        services.raw_file_store(project=project, fileobj=io.BytesIO(CONTENT), original_name="pl.csv")
    assert not RawFile.objects.filter(project=project).exists()
