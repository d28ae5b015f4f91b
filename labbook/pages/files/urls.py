from django.urls import path

from labbook.pages.files import views

app_name = "files"
urlpatterns = [
    path("raw/<int:pk>/", views.raw_file_download, name="raw-download"),
    path("artifacts/<int:pk>/<str:what>", views.artifact_file, name="artifact"),
]
