"""Template tags of the two includes other pages may use:

- ``recipes/save_as_template.html`` (``with batch=obj`` or ``with entry=obj``): a "save as template"
  link for editors of the record's (not frozen) project;
- ``recipes/from_template.html`` (``with kind="synthesis"`` or ``"entry"``): "new from template"
  links to the user's templates of that kind.
"""

from __future__ import annotations

from django import template

from labbook.projects.permissions import can_edit
from labbook.recipes.forms import writable_projects
from labbook.recipes.models import Template

register = template.Library()


def _user(context):
    request = context.get("request")
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


@register.simple_tag(takes_context=True)
def can_save_as_template(context, record) -> bool:
    user = _user(context)
    return bool(user is not None and record is not None and can_edit(user, record))


@register.simple_tag(takes_context=True)
def templates_to_use(context, kind: str):
    """The templates of ``kind`` in the projects where the user may record (editor, not frozen)."""
    user = _user(context)
    if user is None:
        return Template.objects.none()
    return (
        Template.objects.filter(kind=kind, project__in=writable_projects(user))
        .select_related("project")
        .order_by("project__name", "name")
    )
