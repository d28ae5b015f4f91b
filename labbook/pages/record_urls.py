"""URLs of the generic record pages (labbook/pages/records.py): /<records>/<id>/edit/, delete/, history/,
/<records>/new/ and the lists and details of the types with no page of their own."""

from labbook.pages.records import urlpatterns_for_kinds

app_name = "records"
urlpatterns = urlpatterns_for_kinds()
