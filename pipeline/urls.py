from __future__ import annotations

from django.urls import path

from pipeline import views

app_name = "pipeline"
urlpatterns = [
    path("", views.home, name="home"),
    path("projects/<slug:slug>/", views.dashboard, name="dashboard"),
]
