"""What the headless-Chromium page tests share: where Chromium is, how it is started, and a loud
failure (not a skip) when `make test` did not install it."""

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
# Quiet Chromium: no component updates, sync, field trials or QUIC probes that would touch the network.
ARGS = [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
]


def require_chromium() -> None:
    """Call at import time of a browser test module: `make test` installs Chromium; say so if absent."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: apt-get install chromium chromium-driver", pytrace=False
        )
