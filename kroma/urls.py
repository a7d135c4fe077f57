from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from kroma import views
from kroma.api import api
from kroma.throttle import LoginView

admin.site.site_header = "Kroma administration"
admin.site.site_title = "Kroma admin"

urlpatterns = [
    path("health", views.health, name="health"),
    path("favicon.ico", views.favicon),
    path("admin/", admin.site.urls),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("projects.urls")),
    path("", include("pipeline.urls")),
    # Last: the API's own root path ("") must not shadow the site's home page.
    path("", api.urls),
]
