"""Doors of the one test matrix (issue 12) shared by the synthesis and the records matrices.

Deletes: the API's DELETE, the admin's delete page and its "delete selected" action, and the bench
pages' ``/<records>/<id>/delete/``. Updates through the bench pages' ``/<records>/<id>/edit/``.
Each returns one answer, "ok", "forbidden", "not found" or "refused" (the action: nothing deleted,
no 4xx), and a delete checks that a refused one deleted nothing and an accepted one left who did it
in the history."""

from __future__ import annotations

from django.urls import reverse

from tests.labbook.synthesis.conftest import api_client

DELETE_DOORS = ["api", "admin", "action", "page"]


def expected_delete(role: str, frozen: bool, door: str) -> str:
    if door == "action":  # the action is offered only where one may delete: others change nothing
        return "ok" if role in ("editor", "admin") and not frozen else "refused"
    if role == "outsider":
        return "not found"  # the record does not exist for them
    return "forbidden" if role == "viewer" or frozen else "ok"


def _answer(obj, status: int, user) -> str:
    model = type(obj)
    gone = not model._base_manager.filter(pk=obj.pk).exists()
    if gone:
        assert status in (204, 302), status
        last = model.history.filter(id=obj.pk).first()  # who deleted it, in the history
        assert last.history_type == "-" and last.history_user == user
        return "ok"
    assert status in (200, 302, 403, 404, 409), status  # never a 500
    return {403: "forbidden", 404: "not found"}.get(status, "refused")


def delete_by_api(path: str, obj, user) -> str:
    r = api_client(user).delete(f"/api/{path}/{obj.pk}/")
    return _answer(obj, r.status_code, user)


def delete_by_admin(client, page: str, obj, user) -> str:
    """The admin's delete page, confirmed."""
    client.force_login(user)
    r = client.post(reverse(f"admin:{page}_delete", args=[obj.pk]), {"post": "yes"})
    return _answer(obj, r.status_code, user)


def delete_by_action(client, page: str, obj, user) -> str:
    """The change list's "delete selected" action, confirmed."""
    client.force_login(user)
    r = client.post(
        reverse(f"admin:{page}_changelist"),
        {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"},
    )
    answer = _answer(obj, r.status_code, user)
    return "refused" if answer != "ok" else answer


def delete_by_page(client, slug: str, obj, user) -> str:
    """The bench page's delete button (``/<records>/<id>/delete/``, POST)."""
    client.force_login(user)
    r = client.post(reverse(f"records:{slug}-delete", args=[obj.pk]))
    return _answer(obj, r.status_code, user)


def page_form_data(client, slug: str, obj, user) -> dict:
    """The POST data of a record's bench edit page as rendered for ``user`` (with its version)."""
    client.force_login(user)
    r = client.get(reverse(f"records:{slug}-edit", args=[obj.pk]))
    assert r.status_code == 200
    out = {}
    for bf in r.context["form"]:
        if bf.field.disabled:
            continue
        value = bf.value()
        if value is None:
            value = ""
        elif hasattr(value, "units"):  # a pint quantity: as a person types it
            value = bf.field.widget.format_value(value)
        elif isinstance(value, bool):
            if not value:
                continue
            value = "on"
        out[bf.html_name] = value
    return out


def update_by_page(client, slug: str, obj, user, data: dict, change: dict) -> str:
    """The bench page's edit form (``/<records>/<id>/edit/``, POST), saved with ``change``."""
    client.force_login(user)
    r = client.post(reverse(f"records:{slug}-edit", args=[obj.pk]), {**data, **change})
    if r.status_code == 200 and r.context and r.context.get("form") is not None:
        return f"form errors {r.context['form'].errors.as_json()}"
    return {302: "ok", 403: "forbidden", 404: "not found"}.get(r.status_code, f"{r.status_code}")
