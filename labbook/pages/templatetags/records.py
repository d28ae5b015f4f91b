"""``{% record_actions record %}``: a record page's freeze banner and write buttons, by role.

Every detail page includes ``records/record_actions.html`` near its title. Editors and admins of a
project that is not frozen see Edit and Delete; everyone who can see the record sees its History (and
Print where there is a print page); a frozen project shows who froze it, when and why, and no write
buttons. The write pages refuse the same users (labbook/pages/records.py), so a hidden button is
never the only guard.
"""

from django import template
from django.urls import NoReverseMatch, reverse

from labbook.projects.permissions import can_edit

register = template.Library()

#: the print pages (labbook/pages/printing_urls.py) of the record types that have one
PRINT_PAGES = {"batches": "printing:batch", "notebook": "printing:entry"}


def _url(name: str, pk: int) -> str | None:
    try:
        return reverse(name, args=[pk])
    except NoReverseMatch:
        return None


@register.inclusion_tag("records/_actions.html", takes_context=True)
def record_actions(context, record):
    from labbook.pages.records import history_rows, kind_of

    kind = kind_of(record)
    user = context["request"].user
    project = record.project
    editable = kind is not None and can_edit(user, record)
    last = history_rows(record, limit=1)
    buttons = []
    if kind is not None:
        if editable:
            buttons.append(("Edit", reverse(f"records:{kind.slug}-edit", args=[record.pk]), ""))
        buttons.append(("History", reverse(f"records:{kind.slug}-history", args=[record.pk]), "secondary"))
        printable = _url(PRINT_PAGES[kind.slug], record.pk) if kind.slug in PRINT_PAGES else None
        if printable:
            buttons.append(("Print", printable, "secondary"))
        if editable:
            buttons.append(("Delete", reverse(f"records:{kind.slug}-delete", args=[record.pk]), "danger"))
    return {
        "request": context.get("request"),  # for the tags' forms (labbook/tagging)
        "csrf_token": context.get("csrf_token"),
        "user": user,
        "record": record,
        "project": project,
        "buttons": buttons,
        "last": last[0] if last else None,
        "viewer_only": kind is not None and not editable and not project.is_frozen,
    }


@register.inclusion_tag("records/_freeze_banner.html")
def freeze_banner(project):
    return {"project": project}
