from django.urls import path

from labbook.pages.characterization import views

app_name = "characterization"
urlpatterns = [
    path("runs/", views.run_list, name="run-list"),
    path("runs/<int:pk>/", views.run_detail, name="run-detail"),
    path("runs/<int:pk>/attach/", views.run_attach, name="run-attach"),
    path("runs/<int:pk>/analyse/", views.run_analyse, name="run-analyse"),
    path("runs/<int:pk>/jobs.json", views.run_jobs, name="run-jobs"),
]
