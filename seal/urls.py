"""Project URLs: the faces of every app sit here, on top of the layers they use."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from annotation.views import LoginView
from seal import rest, views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    # Lands each person by role (annotation.selectors.landing_url) unless a safe `next` is given.
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("seal.api_urls")),
    path("", include("annotation.urls")),
    path("", include("leaderboards.urls")),
    # Keep last: any other path under /api/ answers in the API's JSON error shape.
    re_path(r"^api/", rest.api_not_found),
]
