from __future__ import annotations

from django.urls import include, path

from projects import asset_urls, character_urls, style_views, views

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
    path("projects/<slug:slug>/characters/", include(character_urls)),
    path("projects/<slug:slug>/style/", style_views.style, name="style"),
    path("projects/<slug:slug>/style/new/", style_views.new_style_guide, name="style_new"),
    path(
        "projects/<slug:slug>/style/<slug:guide_slug>/edit/",
        style_views.edit_style_guide,
        name="style_edit",
    ),
    path(
        "projects/<slug:slug>/style/<slug:guide_slug>/images/",
        style_views.add_style_images,
        name="style_add_images",
    ),
    path(
        "projects/<slug:slug>/style/<slug:guide_slug>/images/<int:reference_id>/remove/",
        style_views.remove_style_image,
        name="style_remove_image",
    ),
    path(
        "projects/<slug:slug>/style/<slug:guide_slug>/lock/",
        style_views.lock_guide,
        name="style_lock",
    ),
    path(
        "projects/<slug:slug>/style/<slug:guide_slug>/unlock/",
        style_views.unlock_guide,
        name="style_unlock",
    ),
    path("projects/<slug:slug>/assets/", include(asset_urls)),
    path("projects/<slug:slug>/soon/<slug:feature>/", views.coming_soon, name="project_soon"),
    path("soon/<slug:feature>/", views.coming_soon, name="soon"),
]
