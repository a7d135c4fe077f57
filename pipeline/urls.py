from __future__ import annotations

from django.urls import include, path

from pipeline import (
    export_urls,
    lab_views,
    prompt_views,
    report_urls,
    review_urls,
    run_list_views,
    settings_token_views,
    settings_views,
    story_views,
    views,
)

app_name = "pipeline"
urlpatterns = [
    path("", views.home, name="home"),
    path("projects/", views.project_list, name="project_list"),
    path("projects/<slug:slug>/", views.dashboard, name="dashboard"),
    path("projects/<slug:slug>/runs/", run_list_views.run_list, name="run_list"),
    path("projects/<slug:slug>/runs/new/", views.run_new, name="run_new"),
    path("projects/<slug:slug>/runs/<slug:uid>/", views.run_detail, name="run_detail"),
    path("projects/<slug:slug>/runs/<slug:uid>/confirm/", views.run_confirm, name="run_confirm"),
    path("projects/<slug:slug>/runs/<slug:uid>/cancel/", views.run_cancel, name="run_cancel"),
    path("projects/<slug:slug>/runs/<slug:uid>/rename/", views.run_rename, name="run_rename"),
    path(
        "projects/<slug:slug>/runs/<slug:uid>/pick/<int:candidate_id>/",
        views.run_pick,
        name="run_pick",
    ),
    path("projects/<slug:slug>/story/", story_views.story, name="story"),
    path("projects/<slug:slug>/story/paste/", story_views.story_paste, name="story_paste"),
    path("projects/<slug:slug>/story/add/", story_views.story_add, name="story_add"),
    path(
        "projects/<slug:slug>/story/panels/<int:panel_id>/",
        story_views.panel_detail,
        name="panel",
    ),
    path(
        "projects/<slug:slug>/story/panels/<int:panel_id>/move/",
        story_views.panel_move,
        name="panel_move",
    ),
    path(
        "projects/<slug:slug>/story/panels/<int:panel_id>/delete/",
        story_views.panel_delete,
        name="panel_delete",
    ),
    path("projects/<slug:slug>/settings/", settings_views.settings_page, name="settings"),
    path(
        "projects/<slug:slug>/settings/secrets/",
        settings_views.settings_secret_save,
        name="settings_secret_save",
    ),
    path(
        "projects/<slug:slug>/settings/secrets/<int:secret_id>/delete/",
        settings_views.settings_secret_delete,
        name="settings_secret_delete",
    ),
    path(
        "projects/<slug:slug>/settings/accounts/",
        settings_views.settings_account_add,
        name="settings_account_add",
    ),
    path(
        "projects/<slug:slug>/settings/accounts/<int:account_id>/",
        settings_views.settings_account_edit,
        name="settings_account_edit",
    ),
    path(
        "projects/<slug:slug>/settings/accounts/<int:account_id>/delete/",
        settings_views.settings_account_delete,
        name="settings_account_delete",
    ),
    path(
        "projects/<slug:slug>/settings/generation/",
        settings_views.settings_generation_save,
        name="settings_generation_save",
    ),
    path(
        "projects/<slug:slug>/settings/tokens/",
        settings_token_views.settings_token_create,
        name="settings_token_create",
    ),
    path(
        "projects/<slug:slug>/settings/tokens/<int:token_id>/revoke/",
        settings_token_views.settings_token_revoke,
        name="settings_token_revoke",
    ),
    path(
        "projects/<slug:slug>/settings/tokens/<int:token_id>/rotate/",
        settings_token_views.settings_token_rotate,
        name="settings_token_rotate",
    ),
    path("projects/<slug:slug>/prompts/", prompt_views.prompts_page, name="prompts"),
    path(
        "projects/<slug:slug>/prompts/preview/",
        prompt_views.prompts_preview,
        name="prompts_preview",
    ),
    path("projects/<slug:slug>/prompts/save/", prompt_views.prompts_save, name="prompts_save"),
    path("projects/<slug:slug>/prompts/reset/", prompt_views.prompts_reset, name="prompts_reset"),
    path("projects/<slug:slug>/", include(review_urls)),
    path("projects/<slug:slug>/", include(report_urls)),
    path("projects/<slug:slug>/", include(export_urls)),
    path("lab/", lab_views.lab, name="lab"),
    path("lab/<uuid:job_id>/", lab_views.lab_job, name="lab_job"),
    path("lab/<uuid:job_id>/files/<str:name>", lab_views.lab_file, name="lab_file"),
    path("lab/<uuid:job_id>/save/", lab_views.lab_save, name="lab_save"),
]
