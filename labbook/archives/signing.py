"""Ed25519 signatures for freeze manifests.

The private key comes from ``settings.ARCHIVE_SIGNING_KEY`` (base64 of the raw 32 bytes); in
development, when it is unset, a key is generated once into ``var/archive_signing_key`` (like
SECRET_KEY). Manifests are signed over their canonical JSON (sorted keys, no spaces, UTF-8), so
anyone with the public key can verify them offline (``manage.py verify_manifest``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

ALGORITHM = "Ed25519"


def canonical_json(payload) -> bytes:
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


def _key_file() -> Path:
    return Path(settings.VAR_DIR) / "archive_signing_key"


def signing_key() -> Ed25519PrivateKey:
    encoded = settings.ARCHIVE_SIGNING_KEY
    if not encoded:
        path = _key_file()
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            raw = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
            )
            path.write_text(base64.b64encode(raw).decode())
            path.chmod(0o600)
        encoded = path.read_text().strip()
    try:
        raw = base64.b64decode(encoded, validate=True)
        return Ed25519PrivateKey.from_private_bytes(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(
            "ARCHIVE_SIGNING_KEY must be the base64 of a raw 32-byte Ed25519 private key"
        ) from exc


def public_key_b64(key: Ed25519PrivateKey | None = None) -> str:
    key = key or signing_key()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def trusted_public_keys() -> list[str]:
    """The public keys this instance trusts to have signed its manifests, pinned outside the media
    store: the one derived from the signing key (``ARCHIVE_SIGNING_KEY`` or ``var/archive_signing_key``;
    never generated here) and any listed in ``ARCHIVE_PUBLIC_KEYS`` (earlier keys after a rotation,
    or the lab's key on a host that only verifies). The ``.pub`` written beside a manifest is for
    publishing; it is never trusted implicitly, since whoever can alter the manifest can alter it."""
    keys = []
    if settings.ARCHIVE_SIGNING_KEY or _key_file().exists():
        keys.append(public_key_b64())
    keys += [k.strip() for k in getattr(settings, "ARCHIVE_PUBLIC_KEYS", "").split(",") if k.strip()]
    return list(dict.fromkeys(keys))


def sign(payload) -> dict:
    """``{"payload", "algorithm", "signature", "public_key"}`` for ``payload`` (JSON-able)."""
    key = signing_key()
    return {
        "algorithm": ALGORITHM,
        "payload": payload,
        "signature": base64.b64encode(key.sign(canonical_json(payload))).decode(),
        "public_key": public_key_b64(key),
    }


class BadSignature(Exception):
    pass


def verify(signed: dict, *, public_key_b64: str | None = None) -> dict:
    """Check ``signed`` (as made by :func:`sign`) and return its payload; raise BadSignature.

    ``public_key_b64`` pins the key (the lab's published one); without it the key embedded in the
    manifest is used, which proves the manifest is intact but not who signed it."""
    if not isinstance(signed, dict) or signed.get("algorithm") != ALGORITHM:
        raise BadSignature("not an Ed25519-signed manifest")
    key_text = public_key_b64 or signed.get("public_key", "")
    if public_key_b64 and signed.get("public_key") not in (None, public_key_b64):
        raise BadSignature("the manifest was signed with another key than the one given")
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(key_text, validate=True))
        key.verify(base64.b64decode(signed["signature"], validate=True), canonical_json(signed["payload"]))
    except (InvalidSignature, ValueError, KeyError, TypeError) as exc:
        raise BadSignature(
            "the signature does not match the manifest: it was altered or signed by another key"
        ) from exc
    return signed["payload"]


def verify_trusted(signed: dict, *, public_key_b64: str | None = None) -> dict:
    """:func:`verify` against a pinned key: ``public_key_b64`` when given, else one of
    :func:`trusted_public_keys` (never the key the manifest carries)."""
    if public_key_b64:
        return verify(signed, public_key_b64=public_key_b64)
    keys = trusted_public_keys()
    if not keys:
        raise BadSignature(
            "no trusted public key: set ARCHIVE_SIGNING_KEY or ARCHIVE_PUBLIC_KEYS, or pass --public-key"
        )
    embedded = signed.get("public_key") if isinstance(signed, dict) else None
    if embedded not in keys:
        raise BadSignature("the manifest was signed with another key than the ones this instance trusts")
    return verify(signed, public_key_b64=embedded)


# ----------------------------------------------------------------------------------------------
# minisign signatures of .eln metadata (the format's proposal: ro-crate-metadata.json.minisig)
# ----------------------------------------------------------------------------------------------
#: minisign's algorithm tags: "Ed" pure Ed25519 (keys), "ED" Ed25519 over BLAKE2b-512 (signatures)
_MINISIGN_KEY_ALG = b"Ed"
_MINISIGN_SIG_ALG = b"ED"


def minisign_key_id(public_raw: bytes) -> bytes:
    """The 8-byte minisign key id of a raw Ed25519 public key: minisign draws it at random; ours is
    derived from the key (first 8 bytes of its BLAKE2b), so a pinned key names its signatures."""
    return hashlib.blake2b(public_raw, digest_size=8).digest()


def _raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def minisign_public_key(public_key_b64: str | None = None) -> str:
    """The minisign public key (``RW...``, for ``minisign -V -P``) of the signing key, or of the raw
    Ed25519 public key ``public_key_b64``."""
    raw = base64.b64decode(public_key_b64) if public_key_b64 else _raw_public(signing_key())
    return base64.b64encode(_MINISIGN_KEY_ALG + minisign_key_id(raw) + raw).decode()


def minisign_sign(data: bytes, *, trusted_comment: str) -> bytes:
    """A minisign signature file (``.minisig``) of ``data`` by the signing key: prehashed Ed25519
    over BLAKE2b-512, with a global signature over the signature and the trusted comment, as
    ``minisign -S`` writes it (verifiable with ``minisign -V -P <key> -m <file>``). Signed with the
    ``cryptography`` key directly: py-minisign's SecretKey wants minisign's own key file format."""
    from minisign import Signature
    from minisign.algo import SignatureAlgorithm

    key = signing_key()
    key_id = minisign_key_id(_raw_public(key))
    comment = " ".join(trusted_comment.split())
    signature = key.sign(hashlib.blake2b(data, digest_size=64).digest())
    sig = Signature(
        _untrusted_comment=f"signature from labbook key {key_id.hex().upper()}",
        _signature_algorithm=SignatureAlgorithm(_MINISIGN_SIG_ALG),
        _key_id=key_id,
        _signature=signature,
        _trusted_comment=comment,
        _global_signature=key.sign(signature + comment.encode()),
    )
    return bytes(sig) + b"\n"


@dataclass(frozen=True)
class MinisignCheck:
    """What a minisign signature says: its key id (hex, as minisign prints it), its trusted comment
    and whether it was verified against a key this instance trusts."""

    key_id: str
    trusted_comment: str
    verified: bool


def trusted_minisign_keys() -> list:
    """The minisign public keys this instance trusts: its own signing keys (:func:`trusted_public_keys`)
    and other ELNs' keys listed in ``ARCHIVE_MINISIGN_KEYS`` (comma-separated ``RW...`` strings)."""
    from minisign import PublicKey

    texts = [minisign_public_key(k) for k in trusted_public_keys()]
    extra = getattr(settings, "ARCHIVE_MINISIGN_KEYS", None) or os.environ.get("ARCHIVE_MINISIGN_KEYS", "")
    texts += [k.strip() for k in extra.split(",") if k.strip()]
    keys = []
    for text in dict.fromkeys(texts):
        try:
            keys.append(PublicKey.from_base64(text))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"ARCHIVE_MINISIGN_KEYS: {text!r} is not a minisign public key"
            ) from exc
    return keys


def minisign_verify(data: bytes, signature_file: bytes) -> MinisignCheck:
    """Check a ``.minisig`` of ``data``. Signed by a trusted key: verified, or BadSignature when it
    does not match (altered data or a forged signature). Signed by another key: returned unverified
    (nobody here can tell a good signature from a bad one). Unreadable: BadSignature."""
    from minisign import ParseError, Signature, VerifyError

    try:
        sig = Signature.from_bytes(signature_file.strip() + b"\n")
    except (ParseError, ValueError, UnicodeError) as exc:
        raise BadSignature(f"the signature cannot be read ({exc})") from None
    key_id = sig._key_id.hex().upper()
    for key in trusted_minisign_keys():
        if key._keynum_pk.key_id == sig._key_id:
            try:
                key.verify(data, sig)
            except (VerifyError, ValueError) as exc:
                raise BadSignature(
                    f"the signature of key {key_id} does not match: the metadata was altered or the signature forged ({exc})"
                ) from None
            return MinisignCheck(key_id=key_id, trusted_comment=sig.trusted_comment, verified=True)
    return MinisignCheck(key_id=key_id, trusted_comment=sig.trusted_comment, verified=False)
