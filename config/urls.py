from django.contrib import admin
from django.urls import include, path

from accounts import views as account_views
from coaching import views as coaching_views
from config import health
from integrations.intervals import views as intervals_views

urlpatterns = [
    path("", account_views.home, name="home"),
    path("dashboard/", account_views.dashboard, name="dashboard"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("dashboard/access-log/", coaching_views.access_log, name="access_log"),
    path("dashboard/access-log/<int:entry_id>/undo/", coaching_views.undo_log_entry, name="access_log_undo"),
    path("intervals/connect/", intervals_views.connect, name="intervals_connect"),
    path("intervals/callback/", intervals_views.callback, name="intervals_callback"),
    path("intervals/disconnect/", intervals_views.disconnect, name="intervals_disconnect"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
]
