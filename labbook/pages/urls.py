from django.urls import path

from labbook.pages import search, views

app_name = "pages"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("compare/", views.compare, name="compare"),
    path("particles/", views.particle_list, name="particle-list"),
    path("particles/<int:pk>/", views.particle_detail, name="particle-detail"),
    path("search/", search.search, name="search"),
]
