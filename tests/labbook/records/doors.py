"""The delete doors of the one test matrix (issue 12), shared by the synthesis and the records
matrices: the API's DELETE, the admin's delete page and its "delete selected" action. Each returns
one answer, "ok", "forbidden", "not found" or "refused" (the action: nothing deleted, no 4xx), and
checks that a refused delete deleted nothing and an accepted one left who did it in the history."""

from __future__ import annotations

from django.urls import reverse

from tests.labbook.synthesis.conftest import api_client

DELETE_DOORS = ["api", "admin", "action"]


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
    assert status in (200, 302, 403, 404), status  # never a 500
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
