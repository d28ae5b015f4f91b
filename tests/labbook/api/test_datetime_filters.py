"""Dates and times in list filters: any UTC offset Python reads is a filter, never a server error
(PostgreSQL refuses offsets beyond +-15:59; found by the schema fuzzing of test_schema.py)."""

import pytest


@pytest.mark.parametrize(
    "value",
    ["4648-05-21T21:11:55-23:03", "2022-10-06T12:00:00+14:30", "2022-10-06T12:00:00Z", "2022-10-06 12:00"],
)
@pytest.mark.parametrize("path", ["/api/results/particles/", "/api/batches/", "/api/runs/"])
def test_any_offset_is_a_filter_not_a_server_error(series, api, path, value):
    r = api.get(path, {"created_at__gte": value})
    assert r.status_code == 200, r.content[:300]


def test_an_offset_is_the_same_instant_in_utc(series, api):
    everything = api.get("/api/batches/").json()["count"]
    assert everything > 0
    # 1999-12-31T23:00-23:00 is 2000-01-01T22:00 UTC: every batch of the series was made after it
    assert (
        api.get("/api/batches/", {"created_at__gte": "1999-12-31T23:00:00-23:00"}).json()["count"]
        == everything
    )
    assert api.get("/api/batches/", {"created_at__lte": "1999-12-31T23:00:00-23:00"}).json()["count"] == 0


def test_nonsense_is_a_400_naming_the_parameter(series, api):
    r = api.get("/api/batches/", {"created_at__gte": "yesterday-ish"})
    assert r.status_code == 400 and "created_at__gte" in r.json()
