"""Text that leaves the server: error messages without the server's paths."""

from __future__ import annotations

import re

# an absolute path of two or more parts (/tmp/labbook-job-x/decay.csv, /srv/media/raw/ab/abcd...)
_PATH = re.compile(r"(?<![\w:/.])(?:/[\w.@+~-]+){2,}/?")


def scrub_paths(text: str) -> str:
    """``text`` with every absolute server path replaced by its last part (the file's name)."""
    return _PATH.sub(lambda m: m.group().rstrip("/").rsplit("/", 1)[-1], text)
