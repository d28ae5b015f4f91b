"""Raw files are stored once per content under their SHA-256, verified, and never half-written."""

import hashlib
import io
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from labbook.files.models import RawFile
from labbook.files.services import raw_file_store
from tests.labbook.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def _blobs():
    return sorted(p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())


def test_same_bytes_uploaded_twice_are_stored_once():
    project = ProjectFactory()
    data = b"time_ns,counts\n0,1\n1,5\n" * 1000
    first = raw_file_store(project=project, fileobj=io.BytesIO(data), original_name="decay.csv")
    second = raw_file_store(project=project, fileobj=io.BytesIO(data), original_name="decay-copy.csv")
    assert first.pk == second.pk
    assert first.sha256 == hashlib.sha256(data).hexdigest()
    assert first.size == len(data)
    assert first.media_type == "text/csv"
    (blob,) = _blobs()
    assert blob.name == first.sha256 and blob.read_bytes() == data
    with first.open() as fh:
        assert fh.read() == data


def test_another_project_gets_its_own_row_but_shares_the_bytes():
    data = b"\x00\x01" * 5000
    a = raw_file_store(project=ProjectFactory(), fileobj=io.BytesIO(data), original_name="m.tif")
    b = raw_file_store(project=ProjectFactory(), fileobj=io.BytesIO(data), original_name="m.tif")
    assert a.pk != b.pk and a.sha256 == b.sha256
    assert len(_blobs()) == 1


def test_too_large_a_file_is_refused_and_leaves_nothing():
    with pytest.raises(ValidationError, match="larger than the limit"):
        raw_file_store(
            project=ProjectFactory(), fileobj=io.BytesIO(b"x" * 2048), original_name="big.bin", max_bytes=1024
        )
    assert not RawFile.objects.exists()
    assert _blobs() == []


def test_an_interrupted_stream_leaves_nothing():
    class Broken(io.RawIOBase):
        def __init__(self):
            self.n = 0

        def read(self, size=-1):
            self.n += 1
            if self.n > 3:
                raise ConnectionResetError("client went away")
            return b"y" * 1024

    with pytest.raises(ConnectionResetError):
        raw_file_store(project=ProjectFactory(), fileobj=Broken(), original_name="movie.tif")
    assert not RawFile.objects.exists()
    assert _blobs() == []


def test_progress_is_reported_while_streaming():
    seen = []
    raw_file_store(
        project=ProjectFactory(),
        fileobj=io.BytesIO(b"z" * (3 * 1024 * 1024 + 5)),
        original_name="z.bin",
        progress=seen.append,
    )
    assert seen[-1] == 3 * 1024 * 1024 + 5 and len(seen) == 4


def test_a_file_needs_a_name():
    with pytest.raises(ValidationError, match="needs a name"):
        raw_file_store(project=ProjectFactory(), fileobj=io.BytesIO(b"a"), original_name="  ")
