"""labbook's numeric core: pure functions over numpy arrays, chunked on dask.

Never imports Django. The service (labbook/) calls into this package through the jobs app;
``python -m analysis`` runs each analysis on files from the command line.

``__version__`` is ``RELEASE + "+" + 12 hex digits of`` :func:`source_hash`: it changes whenever the
source of any module of the package changes, so a stored result (which records it) is never taken for
the output of different code, and the jobs recompute instead of reusing it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

#: the release number, bumped by hand for changes people should notice; the source hash after the
#: "+" tells apart every change in between
RELEASE = "0.2.0"


def source_hash(root: str | os.PathLike | None = None) -> str:
    """SHA-256 (hex) of the Python source of the package under ``root`` (default: this package).

    Each ``*.py`` file under ``root``, in sorted order of its path relative to ``root`` (POSIX
    separators), contributes its relative path and its content with line endings normalised to
    ``\\n``. Byte-compiled caches (``__pycache__``), file times and the location of the checkout do
    not enter, so the same source gives the same hash on every machine. Hashing the ~30 files
    (~0.4 MB) takes a few milliseconds, cheap enough for import time.
    """
    base = Path(__file__).resolve().parent if root is None else Path(root)
    digest = hashlib.sha256()
    files = sorted(
        (p.relative_to(base).as_posix(), p)
        for p in base.rglob("*.py")
        if "__pycache__" not in p.relative_to(base).parts
    )
    for rel, path in files:
        digest.update(rel.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes().replace(b"\r\n", b"\n"))
        digest.update(b"\0")
    return digest.hexdigest()


__version__ = f"{RELEASE}+{source_hash()[:12]}"
