"""Signed .eln archives: our exports carry a minisign signature of ro-crate-metadata.json
(``ro-crate-metadata.json.minisig``, as the format proposes); an import verifies it against the keys
this instance trusts, refuses a bad one, records a good one as "signed by <key id>", and imports an
unsigned archive or one signed by an unknown key as such."""

import base64
import io
import json
import zipfile
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from minisign import PublicKey, Signature

from labbook.archives.eln import ElnError, eln_export, eln_import
from labbook.archives.models import ElnImport
from labbook.archives.models import Signature as SignatureState
from labbook.archives.signing import minisign_key_id, minisign_public_key, public_key_b64
from labbook.projects.models import Project

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("signing_key")]

SHARED = Path(__file__).resolve().parents[4] / "shared" / "validation" / "eln"
METADATA = "ro-crate-metadata.json"


def _members(path):
    with zipfile.ZipFile(path) as zf:
        return {n.split("/", 1)[1]: zf.read(n) for n in zf.namelist()}


def _rewrite(src, dst, change):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = change(info.filename.split("/", 1)[1], zin.read(info))
            if data is not None:
                zout.writestr(info, data)
    return dst


def test_an_export_is_signed_in_minisign_format(series, admin_user, tmp_path):
    out = eln_export(project=series, user=admin_user, out=tmp_path / "s.eln")
    members = _members(out)
    sig = Signature.from_bytes(members[f"{METADATA}.minisig"])
    assert sig.is_prehashed() and f"file:{METADATA}" in sig.trusted_comment
    # verifiable by any minisign implementation with the published key
    key = PublicKey.from_base64(minisign_public_key())
    key.verify(members[METADATA], sig)
    raw = base64.b64decode(public_key_b64())
    assert base64.b64decode(minisign_public_key())[2:10] == minisign_key_id(raw) == sig._key_id
    text = io.StringIO()
    call_command(
        "export_eln", series.slug, str(tmp_path / "c.eln"), "--user", admin_user.username, stdout=text
    )
    assert f"minisign public key {minisign_public_key()}" in text.getvalue()


def test_a_good_signature_is_recorded_and_said(series, admin_user, tmp_path):
    out = eln_export(project=series, user=admin_user, out=tmp_path / "s.eln")
    text = io.StringIO()
    call_command("import_eln", str(out), "--user", admin_user.username, "--slug", "copy", stdout=text)
    record = ElnImport.objects.get(project__slug="copy")
    key_id = minisign_key_id(base64.b64decode(public_key_b64())).hex().upper()
    assert record.signature == SignatureState.VERIFIED and record.signature_key_id == key_id
    assert f"signed by {key_id}" in text.getvalue() and record.signature_text == f"signed by {key_id}"
    assert "labbook project:mini-chloride" in record.signature_comment


def test_altered_metadata_or_a_forged_signature_is_refused(series, admin_user, tmp_path):
    out = eln_export(project=series, user=admin_user, out=tmp_path / "s.eln")
    altered = _rewrite(
        out,
        tmp_path / "altered.eln",
        lambda name, data: data.replace(b"MINI-1", b"MINI-9") if name == METADATA else data,
    )
    sig_lines = _members(out)[f"{METADATA}.minisig"].splitlines()
    forged_sig = base64.b64decode(sig_lines[1])
    forged_sig = forged_sig[:10] + bytes(64)  # same key id, another signature
    forged = _rewrite(
        out,
        tmp_path / "forged.eln",
        lambda name, data: (
            b"\n".join([sig_lines[0], base64.b64encode(forged_sig), *sig_lines[2:]])
            if name.endswith(".minisig")
            else data
        ),
    )
    garbled = _rewrite(
        out,
        tmp_path / "garbled.eln",
        lambda name, data: b"not a signature" if name.endswith(".minisig") else data,
    )
    for path, message in (
        (altered, "does not match"),
        (forged, "does not match"),
        (garbled, "cannot be read"),
    ):
        with pytest.raises(ElnError, match=message):
            eln_import(path=path, user=admin_user, slug="copy")
        with pytest.raises(CommandError, match=message) as exc:
            call_command("import_eln", str(path), "--user", admin_user.username, "--slug", "copy")
        assert exc.value.returncode == 2 and "\n" not in str(exc.value)
        assert not Project.objects.filter(slug="copy").exists()


def test_unsigned_and_unknown_keys_import_as_such(series, admin_user, tmp_path, settings):
    out = eln_export(project=series, user=admin_user, out=tmp_path / "s.eln")
    unsigned = _rewrite(
        out, tmp_path / "u.eln", lambda name, data: None if name.endswith(".minisig") else data
    )
    text = io.StringIO()
    call_command("import_eln", str(unsigned), "--user", admin_user.username, "--slug", "u", stdout=text)
    assert ElnImport.objects.get(project__slug="u").signature == SignatureState.UNSIGNED
    assert text.getvalue().rstrip().endswith("unsigned")
    # signed by a key this instance does not trust (another lab's): imported, marked not verified
    settings.ARCHIVE_SIGNING_KEY = base64.b64encode(bytes(range(32))).decode()
    other = eln_import(path=out, user=admin_user, slug="other")
    record = ElnImport.objects.get(project=other)
    assert record.signature == SignatureState.UNTRUSTED and "not verified" in record.signature_text


@pytest.mark.skipif(not (SHARED / "SampleDB_sampledb_export.eln").exists(), reason=f"no {SHARED}")
def test_another_elns_signature_is_read_and_verified_once_its_key_is_trusted(admin_user, settings):
    """SampleDB signs its exports; without its key the import says who signed, not verified."""
    project = eln_import(path=SHARED / "SampleDB_sampledb_export.eln", user=admin_user)
    record = ElnImport.objects.get(project=project)
    assert record.signature == SignatureState.UNTRUSTED and record.signature_key_id == "8F96805E370F6A03"
    assert "keys.json" in record.signature_comment


def test_a_trusted_key_of_another_eln_verifies_its_signature(admin_user, tmp_path, settings):
    """A minisign key pair made with py-minisign (as minisign -G would), listed in
    ARCHIVE_MINISIGN_KEYS: its signature verifies; a wrong one is refused."""
    from minisign import KeyPair

    from tests.labbook.archives.test_eln import foreign_eln

    pair = KeyPair.generate()
    settings.ARCHIVE_MINISIGN_KEYS = pair.public_key.to_base64().decode()
    src = foreign_eln(tmp_path)
    with zipfile.ZipFile(src) as zf:
        meta = zf.read(f"elabftw-export/{METADATA}")
    sig = bytes(pair.secret_key.sign(meta, trusted_comment="timestamp:1 file:ro-crate-metadata.json"))
    signed = tmp_path / "signed.eln"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(signed, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info))
        zout.writestr(f"elabftw-export/{METADATA}.minisig", sig)
    project = eln_import(path=signed, user=admin_user)
    record = ElnImport.objects.get(project=project)
    assert record.signature == SignatureState.VERIFIED
    assert record.signature_key_id == pair.public_key._keynum_pk.key_id.hex().upper()
    doc = json.loads(meta)
    doc["@graph"][2]["name"] = "tampered"
    tampered = _rewrite(
        signed, tmp_path / "t.eln", lambda name, data: json.dumps(doc).encode() if name == METADATA else data
    )
    with pytest.raises(ElnError, match="does not match"):
        eln_import(path=tampered, user=admin_user, slug="t")


def test_the_reference_minisign_tool_verifies_ours_and_signs_what_we_verify(
    series, admin_user, tmp_path, settings
):
    """Interoperability with minisign itself (Debian's package, installed by `make chromium-install`
    with the other system tools the tests use): `minisign -V` accepts our signature and refuses it on
    altered metadata; an archive re-signed by `minisign -S` with a new key pair imports as verified
    once that key is trusted (ARCHIVE_MINISIGN_KEYS)."""
    import shutil
    import subprocess

    tool = shutil.which("minisign")
    assert tool, "minisign is not installed: make chromium-install (apt-get install minisign)"
    out = eln_export(project=series, user=admin_user, out=tmp_path / "s.eln")
    members = _members(out)
    (tmp_path / METADATA).write_bytes(members[METADATA])
    (tmp_path / "ours.minisig").write_bytes(members[f"{METADATA}.minisig"])

    def verify(pub_args, sig):
        cmd = [tool, "-V", *pub_args, "-m", str(tmp_path / METADATA), "-x", str(sig)]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30)

    ok = verify(["-P", minisign_public_key()], tmp_path / "ours.minisig")
    assert ok.returncode == 0 and "Signature and comment signature verified" in ok.stdout, ok.stderr
    (tmp_path / METADATA).write_bytes(members[METADATA] + b" ")
    assert verify(["-P", minisign_public_key()], tmp_path / "ours.minisig").returncode != 0
    (tmp_path / METADATA).write_bytes(members[METADATA])

    # minisign's own key pair (unencrypted: -W) signs the metadata; the archive carries its .minisig
    pub, sec = tmp_path / "lab.pub", tmp_path / "lab.key"
    subprocess.run(
        [tool, "-G", "-W", "-p", str(pub), "-s", str(sec)], check=True, capture_output=True, timeout=30
    )
    subprocess.run(
        [tool, "-S", "-s", str(sec), "-m", str(tmp_path / METADATA), "-x", str(tmp_path / "theirs.minisig"),
         "-t", "signed by the other lab's minisign"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    theirs = (tmp_path / "theirs.minisig").read_bytes()
    resigned = _rewrite(
        out, tmp_path / "theirs.eln", lambda name, data: theirs if name == f"{METADATA}.minisig" else data
    )
    unknown = eln_import(path=resigned, user=admin_user, slug="unknown")
    assert ElnImport.objects.get(project=unknown).signature == SignatureState.UNTRUSTED
    settings.ARCHIVE_MINISIGN_KEYS = pub.read_text().splitlines()[1].strip()
    trusted = eln_import(path=resigned, user=admin_user, slug="trusted")
    record = ElnImport.objects.get(project=trusted)
    assert record.signature == SignatureState.VERIFIED
    assert "signed by the other lab's minisign" in record.signature_comment
