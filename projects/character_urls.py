"""The Characters pages' URLs, included under projects/<slug>/characters/ (namespace projects)."""

from __future__ import annotations

from django.urls import path

from projects import character_views as views

CHARACTER = "<slug:character_slug>/"
OUTFIT = f"{CHARACTER}outfits/<int:outfit_id>/"

urlpatterns = [
    path("", views.characters, name="characters"),
    path("new/", views.new_character, name="character_new"),
    path(CHARACTER, views.character, name="character"),
    path(f"{CHARACTER}edit/", views.edit_character, name="character_edit"),
    path(f"{CHARACTER}delete/", views.delete_character_view, name="character_delete"),
    path(f"{CHARACTER}sheets/", views.add_character_sheets, name="character_sheets_add"),
    path(
        f"{CHARACTER}sheets/<int:item_id>/remove/",
        views.remove_character_sheet,
        name="character_sheet_remove",
    ),
    path(f"{CHARACTER}outfits/new/", views.new_outfit, name="outfit_new"),
    path(f"{OUTFIT}edit/", views.edit_outfit, name="outfit_edit"),
    path(f"{OUTFIT}delete/", views.delete_outfit_view, name="outfit_delete"),
    path(f"{OUTFIT}sheets/", views.add_outfit_sheets, name="outfit_sheets_add"),
    path(
        f"{OUTFIT}sheets/<int:item_id>/remove/",
        views.remove_outfit_sheet,
        name="outfit_sheet_remove",
    ),
]
