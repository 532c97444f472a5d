from django.contrib import admin
from django.urls import include, path

from accounts import views as account_views
from integrations.intervals import views as intervals_views

urlpatterns = [
    path("", account_views.home, name="home"),
    path("dashboard/", account_views.dashboard, name="dashboard"),
    path("intervals/connect/", intervals_views.connect, name="intervals_connect"),
    path("intervals/callback/", intervals_views.callback, name="intervals_callback"),
    path("intervals/disconnect/", intervals_views.disconnect, name="intervals_disconnect"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
]
