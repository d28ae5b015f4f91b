"""``{% record_tags record as t %}``: what ``templates/tags/record_tags.html`` shows of a record:
``t.tags`` (name, link to the list filtered by it), ``t.kind``, ``t.can_edit``."""

from __future__ import annotations

from urllib.parse import urlencode

from django import template

from labbook.projects.permissions import can_edit
from labbook.tagging.kinds import kind_of, list_url
from labbook.tagging.selectors import tags_of

register = template.Library()


@register.simple_tag(takes_context=True)
def record_tags(context, record) -> dict:
    kind = kind_of(record) if record is not None else None
    if kind is None:
        return {"kind": None, "tags": [], "can_edit": False}
    base = list_url(kind)
    tags = [(tag.name, f"{base}?{urlencode({'tag': tag.name})}" if base else None) for tag in tags_of(record)]
    request = context.get("request")
    user = getattr(request, "user", None)
    return {
        "kind": kind,
        "tags": tags,
        "can_edit": user is not None and user.is_authenticated and can_edit(user, record),
    }
