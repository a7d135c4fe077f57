from __future__ import annotations

from django.urls import path

from projects import views

app_name = "projects"
urlpatterns = [
    path("projects/new/", views.new_project, name="new"),
    path("projects/<slug:slug>/universe/", views.universe, name="universe"),
    path("projects/<slug:slug>/universe/story/", views.edit_story, name="edit_story"),
    path(
        "projects/<slug:slug>/universe/images/",
        views.add_reference_images,
        name="add_reference_images",
    ),
    path("projects/<slug:slug>/assets/", views.asset_list, name="asset_list"),
    path("projects/<slug:slug>/assets/<int:asset_id>/file", views.asset_file, name="asset_file"),
    path("projects/<slug:slug>/assets/<int:asset_id>/thumb", views.asset_thumb, name="asset_thumb"),
    path("projects/<slug:slug>/soon/<slug:feature>/", views.coming_soon, name="project_soon"),
    path("soon/<slug:feature>/", views.coming_soon, name="soon"),
]
