from django.urls import path

from labbook.archives import views

app_name = "archives"
urlpatterns = [
    path("", views.archive_index, name="index"),
    path("projects/<int:pk>/export/", views.archive_export, name="export"),
    path("import/", views.archive_import, name="import"),
    path("jobs/<int:pk>/", views.archive_job, name="job"),
    path("jobs/<int:pk>/download/", views.archive_job_download, name="download"),
]
