"""Tags: short labels of a project ("ethanol-wash", "MACl-series-2") on any of its records.

models.py (Tag, TaggedRecord: a generic relation to the record), kinds.py (which record types carry
tags and under which name), services.py (tag_add / tag_remove: the only writers), selectors.py
(reads), views.py + urls.py (the add/remove form of ``templates/tags/record_tags.html``),
templatetags/tagging.py (``{% record_tags record as tags %}``). The ``?tag=`` filter of every list
is in labbook/filters.py (LabFilterSet), which finds TaggedRecord by its label (it sits below this app).
"""
