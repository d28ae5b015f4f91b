"""Print pages (and their PDF with ``?format=pdf``): a batch, a batch's treatment series, a notebook entry."""

from django.urls import path

from labbook.pages import printing

app_name = "printing"
urlpatterns = [
    path("batches/<int:pk>/print/", printing.batch_print, name="batch"),
    path("batches/<int:pk>/treatments/print/", printing.series_print, name="series"),
    path("notebook/<int:pk>/print/", printing.entry_print, name="entry"),
]
