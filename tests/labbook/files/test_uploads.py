"""Uploads through every door are streamed and cut at RAW_FILE_MAX_BYTES: nothing past the limit is
kept in memory or on disk, the refusal is reported (and, all or nothing, no other file of the same
upload is stored), and a declared length over the limit is answered before the body is read."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.test import RequestFactory
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import reverse

from labbook.characterization.models import CharacterizationRun
from labbook.demo import load_paper_series
from labbook.files.models import RawFile
from labbook.files.uploads import RefusedUpload, SizeLimitUploadHandler
from tests.labbook.factories import UserFactory

pytestmark = pytest.mark.django_db


class Recorder(FileUploadHandler):
    """Stands for Django's memory/temporary-file handlers: counts the bytes they are given."""

    received: dict[str, int] = {}

    def receive_data_chunk(self, raw_data, start):
        Recorder.received[self.file_name] = Recorder.received.get(self.file_name, 0) + len(raw_data)
        return None

    def file_complete(self, file_size):
        return SimpleUploadedFile(self.file_name, b"kept")


def test_the_handler_keeps_nothing_past_the_limit_and_the_rest_of_the_form_goes_on(settings):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0
    big, small = b"x" * 3_000_000, b"1,2\n"
    body = encode_multipart(
        BOUNDARY,
        {
            "big": SimpleUploadedFile("big.tif", big),
            "small": SimpleUploadedFile("small.csv", small),
            "note": "after",
        },
    )
    request = RequestFactory().generic("POST", "/x/", body, content_type=MULTIPART_CONTENT)
    request.upload_handlers = [SizeLimitUploadHandler(request, limit=100_000), Recorder(request)]
    Recorder.received = {}
    refused = request.FILES["big"]
    assert isinstance(refused, RefusedUpload) and refused.size == len(big)
    assert refused.refusal == "big.tif is larger than the limit of 100000 bytes"
    assert Recorder.received["big.tif"] <= 100_000 + 64 * 1024  # at most one chunk past the limit
    assert Recorder.received["small.csv"] == len(small) and request.POST["note"] == "after"
    with pytest.raises(Exception, match="larger than the limit"):
        refused.read()


@pytest.fixture
def spooled(settings, monkeypatch):
    """Bytes of each uploaded file that reached Django's temporary-file handler (the disk)."""
    from django.core.files import uploadhandler

    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0
    counts: dict[str, int] = {}
    original = uploadhandler.TemporaryFileUploadHandler.receive_data_chunk

    def counting(self, raw_data, start):
        counts[self.file_name] = counts.get(self.file_name, 0) + len(raw_data)
        return original(self, raw_data, start)

    monkeypatch.setattr(uploadhandler.TemporaryFileUploadHandler, "receive_data_chunk", counting)
    return counts


@pytest.fixture
def editor(db):
    return UserFactory(username="bench")


@pytest.fixture
def run(editor):
    load_paper_series(user=editor, with_files=False)
    return CharacterizationRun.objects.get(code="R-3Cl-PL")


def test_a_page_upload_over_the_limit_is_cut_off_and_reported(client, editor, run, settings, spooled):
    settings.RAW_FILE_MAX_BYTES = 1000
    client.force_login(editor)
    url = reverse("characterization:run-attach", args=[run.pk])
    files = [SimpleUploadedFile("big.csv", b"1,2\n" * 5000), SimpleUploadedFile("ok.csv", b"0,1\n1,2\n2,3\n")]
    r = client.post(url, {"upload": files}, follow=True)
    text = " ".join(str(m) for m in r.context["messages"])
    assert "nothing was stored: big.csv is larger than the limit of 1000 bytes" in text
    assert not run.raw_files.exists() and not RawFile.objects.exists()  # all or nothing
    assert spooled.get("big.csv", 0) <= 1000 and spooled["ok.csv"] == 12  # never spooled in full


def test_a_declared_length_over_the_limit_is_413_before_the_body_is_read(client, editor, run, settings):
    settings.RAW_FILE_MAX_BYTES = 10
    client.force_login(editor)
    url = reverse("characterization:run-attach", args=[run.pk])
    body = encode_multipart(BOUNDARY, {"upload": SimpleUploadedFile("big.csv", b"1" * 200_000)})

    class Unreadable(io.BytesIO):
        def read(self, *args):
            raise AssertionError("the body was read")

    r = client.generic(
        "POST",
        url,
        b"",
        content_type=MULTIPART_CONTENT,
        CONTENT_LENGTH=str(len(body)),
        CONTENT_TYPE=MULTIPART_CONTENT,
        **{"wsgi.input": Unreadable()},
    )
    assert r.status_code == 413 and b"larger than the limit of 10 bytes" in r.content
    assert not RawFile.objects.exists()


def test_an_admin_upload_over_the_limit_is_refused_with_a_message(client, run, settings, spooled):
    admin = UserFactory(username="boss", is_superuser=True, is_staff=True)
    client.force_login(admin)
    settings.RAW_FILE_MAX_BYTES = 1000
    url = reverse("admin:characterization_characterizationrun_change", args=[run.pk])
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and not isinstance(v, (list, dict))}
    data.update(
        {
            "project": run.project_id,
            "sample": run.sample_id,
            "date": run.date.isoformat(),
            "technique": run.technique,
            "extra_settings": "{}",
            "code": run.code,
            "operator": "",
            "CharacterizationRun_raw_files-TOTAL_FORMS": "0",
            "CharacterizationRun_raw_files-INITIAL_FORMS": "0",
            "upload": [SimpleUploadedFile("big.csv", b"1,2\n" * 5000)],
            "expected_version": run.version,
        }
    )
    for name in form.fields:
        if hasattr(form.fields[name], "unit") or name in ("frame_count",):
            value = form[name].value()
            data[name] = "" if value is None else form.fields[name].widget.format_value(value)
    data["notes"] = "changed with the upload"
    r = client.post(url, data)
    assert r.status_code == 200  # the form again, with the refusal on the upload box
    errors = r.context["adminform"].form.errors
    assert "nothing was stored: big.csv is larger than the limit of 1000 bytes" in errors["upload"][0]
    assert not RawFile.objects.exists() and spooled.get("big.csv", 0) <= 1000
    run.refresh_from_db()
    assert run.notes != "changed with the upload"  # all or nothing: the record's change too
