from django.urls import path

from labbook.pages.notebook import views

app_name = "notebook"
urlpatterns = [
    path("notebook/", views.entry_list, name="entry-list"),
    path("notebook/new/", views.entry_create, name="entry-create"),
    path("notebook/<int:pk>/", views.entry_detail, name="entry-detail"),
    path("notebook/<int:pk>/attach/", views.entry_attach, name="entry-attach"),
]
