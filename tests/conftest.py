import pytest


@pytest.fixture(autouse=True)
def _media_in_tmp(request, tmp_path_factory):
    """Raw files written by a test go to a fresh folder, never to var/media."""
    if "django_db_setup" in request.fixturenames or request.node.get_closest_marker("django_db"):
        settings = request.getfixturevalue("settings")
        settings.MEDIA_ROOT = tmp_path_factory.mktemp("media")
    yield


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing():
    """PBKDF2's deliberate slowness buys nothing in tests."""
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True, scope="session")
def _close_job_dask_client():
    """Jobs run in-process share one LocalCluster (as in a worker process); close it at the end."""
    yield
    import sys

    runners = sys.modules.get("labbook.jobs.runners")
    if runners is not None:
        runners.close_dask_client()


def pytest_collection_modifyitems(items):
    """Tests that read a module's shared data run after its other tests (tests/labbook/shared.py);
    pytest-django's own reordering (transactional tests last) runs before this and is kept."""
    from tests.labbook.shared import shared_data_last

    shared_data_last(items)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's, and before it drops the test database: the connections to it that other
    threads of this process left open are dropped (garbage-collected; on PostgreSQL ended by the
    server), or the drop fails ("is being accessed by other users") and leaves test_<name> behind."""
    yield
    import gc

    from django.db import connection

    gc.collect()
    if connection.vendor == "postgresql":
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
