from django.urls import path

from labbook.pages.files import views

app_name = "files"
urlpatterns = [
    path("raw/<int:pk>/", views.raw_file_download, name="raw-download"),
    path("raw/<int:pk>/preview.png", views.raw_file_preview, name="raw-preview"),
    path("artifacts/<int:pk>/<str:what>", views.artifact_file, name="artifact"),
]
