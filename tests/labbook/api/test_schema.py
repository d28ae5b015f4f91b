"""The OpenAPI schema validates, the docs are served offline, and schemathesis finds no 5xx."""

import json

import pytest
from django.core.management import call_command
from django.test import override_settings
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from labbook.api.models import ApiToken

pytestmark = pytest.mark.django_db


def test_schema_generates_without_warnings_and_validates(capsys):
    with override_settings(ROOT_URLCONF="tests.labbook.api.urls"):
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
    schema = SchemaGenerator(urlconf="tests.labbook.api.urls").get_schema(request=None, public=True)
    validate_schema(schema)
    paths = schema["paths"]
    assert "/api/results/particles/" in paths and "/api/comparisons/" in paths and "/api/files/" in paths
    params = {p["name"] for p in paths["/api/results/particles/"]["get"]["parameters"]}
    assert {"edge__lt", "treatment_nominal_cl", "batch_date__gte", "trace_class", "ordering"} <= params
    # quantities: an object out, a string / number / object in
    batch = schema["components"]["schemas"]["Batch"]["properties"]["injection_volume"]
    assert batch["properties"]["units"]["example"] == "mL"
    assert "oneOf" in schema["components"]["schemas"]["BatchDetailRequest"]["properties"]["injection_volume"]


def test_docs_are_served_from_the_installed_packages(series, api):
    schema = api.get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200 and json.loads(schema.content)["openapi"].startswith("3.")
    for path in ("/api/docs/", "/api/redoc/"):
        html = api.get(path).content.decode()
        assert "drf_spectacular_sidecar" in html, path
        assert "cdn." not in html and "unpkg" not in html and "jsdelivr" not in html, path


def test_schema_is_generated_once_per_process_and_the_cache_is_bounded(series, api, monkeypatch):
    from labbook.api import schema as cached

    monkeypatch.setattr(cached, "_schemas", {})
    calls = []
    real = SchemaGenerator.get_schema

    def counted(self, *args, **kwargs):  # the real generator, counted
        calls.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SchemaGenerator, "get_schema", counted)
    first = api.get("/api/schema/", {"format": "json"})
    second = api.get("/api/schema/", {"format": "json"})
    assert first.status_code == second.status_code == 200 and first.content == second.content
    assert len(calls) == 1
    assert first["Content-Type"].startswith("application/vnd.oai.openapi+json")
    yaml = api.get("/api/schema/")  # YAML by default: kept apart from the JSON
    assert yaml.status_code == 200 and yaml.content.startswith(b"openapi: 3") and len(calls) == 2
    # ?version= is free text: schemas for it are generated each time, never kept beyond MAX_KEPT
    for v in range(3 * cached.MAX_KEPT):
        assert api.get("/api/schema/", {"format": "json", "version": f"v{v}"}).status_code == 200
    assert len(cached._schemas) <= cached.MAX_KEPT
    assert api.get("/api/schema/", {"format": "json"}).content == first.content


# --- schemathesis: generated requests against the schema -------------------------------------------
schemathesis = pytest.importorskip("schemathesis")

SCHEMA = schemathesis.openapi.from_dict(
    json.loads(
        json.dumps(
            SchemaGenerator(urlconf="tests.labbook.api.urls").get_schema(request=None, public=True),
            default=str,
        )
    )
)


@pytest.fixture
def wsgi_app(settings):
    """The real WSGI application on the test database's connection (as Django's test client does,
    the per-request connection closing is switched off so the test transaction survives)."""
    from django.core import signals
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


OPERATIONS = [
    ("GET", "/api/results/particles/"),
    ("GET", "/api/treatments/"),
    ("GET", "/api/batches/"),
    ("GET", "/api/comparisons/"),
    ("POST", "/api/batches/"),
    ("POST", "/api/treatments/"),
    ("POST", "/api/jobs/"),
    ("GET", "/api/runs/"),
]


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_schemathesis_finds_no_server_errors(series, editor, wsgi_app, method, path):
    from hypothesis import HealthCheck, given, settings

    operation = SCHEMA[path][method]
    headers = {"Authorization": f"Token {ApiToken.mint(editor)[1]}"}

    statuses = []

    @given(case=operation.as_strategy())
    @settings(max_examples=6, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(case):
        response = case.call(app=wsgi_app, headers=headers)
        statuses.append(response.status_code)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} {case.query} {case.body!r}: {response.status_code} {response.text[:500]}"
        )

    run()
    assert statuses and 401 not in statuses  # the examples really reached the views
