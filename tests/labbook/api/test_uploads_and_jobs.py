"""Raw file uploads (streamed, checksummed, size-limited, stored once) and analysis jobs through
the API (start, reuse, poll, cancel, bad parameters)."""

import hashlib

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from labbook.characterization.models import CharacterizationRun
from labbook.files.models import RawFile, blob_name
from labbook.jobs.models import AnalysisJob
from tests.labbook.api.conftest import client_for

pytestmark = pytest.mark.django_db

CSV = b"time_ns,counts\n0,1\n1,5\n2,3\n"


def _upload(api, project, name="decay.csv", content=CSV, **extra):
    return api.post(
        "/api/files/",
        {"project": project.pk, "file": SimpleUploadedFile(name, content), **extra},
        format="multipart",
    )


class TestUpload:
    def test_upload_is_checksummed_stored_once_and_attached(self, series, api):
        run = CharacterizationRun.objects.get(code="R-3Cl-TRPL")
        r = _upload(api, series, run=run.pk, description="decay of the 3 % film")
        assert r.status_code == 201, r.content
        body = r.json()
        sha = hashlib.sha256(CSV).hexdigest()
        assert body["sha256"] == sha and body["size"] == len(CSV) and body["original_name"] == "decay.csv"
        assert default_storage.exists(blob_name(sha))
        assert run.raw_files.filter(pk=body["id"]).exists()
        again = _upload(api, series, name="copy.csv")
        assert again.status_code == 200 and again.json()["id"] == body["id"]
        download = api.get(body["download_url"])
        assert download.status_code == 200 and b"".join(download.streaming_content) == CSV

    def test_over_the_limit_is_413_and_leaves_nothing(self, series, api, settings):
        settings.RAW_FILE_MAX_BYTES = 10
        r = _upload(api, series)
        assert r.status_code == 413 and "limit of 10 bytes" in r.json()["detail"]
        assert not RawFile.objects.filter(sha256=hashlib.sha256(CSV).hexdigest()).exists()
        assert not default_storage.exists(blob_name(hashlib.sha256(CSV).hexdigest()))

    def test_a_file_over_the_limit_is_cut_off_while_it_streams(self, series, api, settings):
        """Within the multipart allowance the request's length passes; the upload handler stops
        reading the file at the limit, before it is spooled."""
        settings.RAW_FILE_MAX_BYTES = 100
        r = _upload(api, series, name="big.csv", content=b"1," * 1000)
        assert r.status_code == 413 and "big.csv is larger than the limit of 100 bytes" in r.json()["detail"]
        assert RawFile.objects.count() == 0

    def test_wrong_type_empty_file_missing_file_unknown_field(self, series, api):
        r = _upload(api, series, name="virus.exe", content=b"MZ\x90\x00")
        assert r.status_code == 400 and "not a raw file type" in r.json()["file"][0]
        r = _upload(api, series, name="empty.csv", content=b"")
        assert r.status_code == 400 and "empty" in r.json()["file"][0]
        r = api.post("/api/files/", {"project": series.pk}, format="multipart")
        assert r.status_code == 400 and "file" in r.json()
        r = _upload(api, series, colour="red")
        assert r.status_code == 400 and "colour" in r.json()
        r = api.post("/api/files/", {"project": series.pk, "file": "x"}, format="json")
        assert r.status_code == 415
        assert RawFile.objects.count() == 0

    def test_viewers_and_outsiders_cannot_upload(self, series, viewer, outsider):
        assert _upload(client_for(viewer), series).status_code == 403
        r = _upload(client_for(outsider), series)
        assert r.status_code in (400, 403)
        assert RawFile.objects.count() == 0


class TestJobs:
    def _movie(self, api, series, run):
        r = _upload(api, series, name="movie.tif", content=b"II*\x00not really a tiff", run=run.pk)
        assert r.status_code == 201, r.content
        return r.json()["id"]

    def test_start_poll_reuse_and_cancel(self, series, api):
        run = CharacterizationRun.objects.get(code="R-9Cl-BLINK")
        self._movie(api, series, run)
        r = api.post("/api/jobs/", {"run": run.pk}, format="json")  # kind and roles from the run
        assert r.status_code == 201, r.content
        job = r.json()
        assert job["kind"] == "blinking" and job["status"] == "queued" and job["progress"] == 0
        assert [i["role"] for i in job["inputs"]] == ["movie"]
        assert job["parameters"]["bin_time_s"] == pytest.approx(0.1)
        again = api.post("/api/jobs/", {"run": run.pk}, format="json")
        assert again.status_code == 200 and again.json()["id"] == job["id"]
        forced = api.post("/api/jobs/", {"run": run.pk, "force": True}, format="json")
        assert forced.status_code == 201 and forced.json()["id"] != job["id"]
        # poll: the worker reports progress on the row
        AnalysisJob.objects.filter(pk=job["id"]).update(
            status="running", progress=0.4, progress_message="frames 480/1200"
        )
        polled = api.get(f"/api/jobs/{job['id']}/").json()
        assert (polled["status"], polled["progress"], polled["progress_message"]) == (
            "running",
            0.4,
            "frames 480/1200",
        )
        assert polled["result"] is None
        cancelled = api.post(f"/api/jobs/{job['id']}/cancel/")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"

    def test_a_succeeded_job_links_its_result(self, series, api):
        run = CharacterizationRun.objects.get(code="R-3Cl-BLINK")
        (job,) = api.get("/api/jobs/", {"run": run.pk}).json()["results"]
        assert job["status"] == "succeeded" and "/api/results/blinking/" in job["result"]["url"]
        assert api.get(job["result"]["url"]).json()["n_particles"] == 12

    def test_bad_submissions_are_400_with_reasons(self, series, api):
        run = CharacterizationRun.objects.get(code="R-9Cl-BLINK")
        movie = self._movie(api, series, run)
        r = api.post("/api/jobs/", {"run": run.pk, "parameters": {"bin_time_s": "5 mg"}}, format="json")
        assert r.status_code == 400 and "expected a time" in str(r.json())
        r = api.post("/api/jobs/", {"run": run.pk, "parameters": {"colour": "red"}}, format="json")
        assert r.status_code == 400 and "unknown" in str(r.json())
        r = api.post("/api/jobs/", {"run": run.pk, "kind": "astrology"}, format="json")
        assert r.status_code == 400 and "kind" in r.json()
        r = api.post("/api/jobs/", {"run": run.pk, "files": {"movie": 999999}}, format="json")
        assert r.status_code == 400 and "no raw file 999999" in r.json()["files"][0]
        r = api.post("/api/jobs/", {"kind": "blinking", "files": {"movie": movie}}, format="json")
        assert r.status_code == 400 and "run or a device measurement" in str(r.json())
        bare = CharacterizationRun.objects.get(code="R-17Cl-BLINK")
        r = api.post("/api/jobs/", {"run": bare.pk}, format="json")
        assert r.status_code == 400 and "no raw files" in r.json()["files"][0]
        sem = CharacterizationRun.objects.get(
            project=series, technique="sem", sample__treatment__nominal_cl_percent=3
        )
        r = api.post("/api/jobs/", {"run": sem.pk}, format="json")
        assert r.status_code == 400 and "no analysis" in r.json()["kind"][0]
        assert AnalysisJob.objects.filter(status="queued").count() == 0

    def test_viewers_cannot_start_jobs(self, series, api, viewer):
        run = CharacterizationRun.objects.get(code="R-9Cl-BLINK")
        self._movie(api, series, run)
        r = client_for(viewer).post("/api/jobs/", {"run": run.pk}, format="json")
        assert r.status_code == 403
