"""Data built once for a module and read by many of its tests (the demo series takes a second or
more to load): a module-scoped fixture builds it inside a transaction that is rolled back after
the module's last test, and each test runs in a savepoint inside it (pytest-django's usual
rollback), so a test that writes is still isolated from the next.

Only tests that ask for the shared data see it: ``reads_shared_data`` names them, and
tests/conftest.py runs them after the other tests of their module, so the module's other tests run
before it exists (the fixture is torn down when pytest leaves the module), and sets the shared
fixture up first for them, before pytest-django opens the test's own transaction. A transactional
test (``transaction=True``, ``live_server``) never reads it: its live server thread would not see
rows of an uncommitted transaction, and it flushes the database; the fixtures that read shared data
build their own for such a test (``transactional``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import transaction

#: test file or folder -> (the fixtures whose non-transactional tests read the module's shared data,
#: the module-scoped fixture that builds it)
SHARED_DATA = {
    "tests/labbook/pages/": ({"series"}, "_shared_series"),
    "tests/labbook/test_admin.py": ({"series", "superuser"}, "_admin_data"),
    "tests/labbook/jobs/test_jobs.py": ({"series"}, "_series_data"),
    "tests/labbook/jobs/test_job_errors.py": ({"series"}, "_series_data"),
    "tests/labbook/jobs/test_stored_curves.py": ({"series"}, "_series_data"),
    "tests/labbook/jobs/test_ingest_and_upload.py": ({"series"}, "_series_data"),
    "tests/labbook/results/test_comparison.py": ({"series"}, "_shared_series"),
}


@contextmanager
def rolled_back(django_db_blocker) -> Iterator[None]:
    """Database access for a module-scoped fixture, all of it undone at its end."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


def transactional(item_or_request) -> bool:
    node = getattr(item_or_request, "node", item_or_request)
    marker = node.get_closest_marker("django_db")
    if marker is not None:
        from pytest_django.plugin import validate_django_db

        tx, reset_sequences, *_ = validate_django_db(marker)
        if tx or reset_sequences:
            return True
    names = getattr(node, "fixturenames", ())
    return "transactional_db" in names or "live_server" in names


def shared_data_of(item) -> str | None:
    """The module-scoped fixture whose data ``item`` reads, if any."""
    path = getattr(item, "path", None)
    if path is None or transactional(item):
        return None
    where_am_i = path.as_posix()
    names = set(getattr(item, "fixturenames", ()))
    for where, (readers, fixture) in SHARED_DATA.items():
        if f"/{where}" in where_am_i and names & readers:
            return fixture
    return None


def shared_data_last(items: list[pytest.Item]) -> None:
    """Within each run of consecutive tests of one module, the readers of shared data last (stable),
    each with its shared fixture set up before any other of its fixtures."""
    out, i = [], 0
    while i < len(items):
        j = i
        while j < len(items) and items[j].path == items[i].path:
            j += 1
        block = items[i:j]
        readers = [it for it in block if shared_data_of(it)]
        for it in readers:
            it.fixturenames = [shared_data_of(it), *(n for n in it.fixturenames if n != shared_data_of(it))]
        out += [it for it in block if it not in readers] + readers
        i = j
    items[:] = out
