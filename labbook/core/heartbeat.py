"""A background heartbeat for long work: a thread that calls ``touch`` at a fixed period."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

from django.db import close_old_connections, connection


@contextlib.contextmanager
def heartbeat(
    touch: Callable[[], object], *, every_s: float, name: str, retry_errors: bool = False
) -> Iterator[None]:
    """Call ``touch()`` every ``every_s`` seconds from a thread while the block runs.

    The thread has its own database connection, closed when the block ends. With ``retry_errors`` a
    failing touch (SQLite busy while the job itself writes) only delays that beat; otherwise it ends
    the thread, and the job's heartbeat goes stale.
    """
    stop = threading.Event()

    def beat():
        try:
            while not stop.wait(every_s):
                try:
                    touch()
                except Exception:  # noqa: BLE001 - a locked database: the next beat tries again
                    if not retry_errors:
                        raise
        finally:
            close_old_connections()
            connection.close()

    thread = threading.Thread(target=beat, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
