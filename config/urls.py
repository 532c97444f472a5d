from django.conf import settings
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

from accounts import billing_views, token_views
from accounts import views as account_views
from coaching import views as coaching_views
from config import health
from integrations.intervals import views as intervals_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", account_views.home, name="home"),
    path("dashboard/", account_views.dashboard, name="dashboard"),
    path("dashboard/billing/", billing_views.billing_page, name="billing"),
    path("dashboard/mcp-url/regenerate/", token_views.regenerate_own, name="token_regenerate_own"),
    path("connect/", account_views.connect_guide, name="connect_guide"),
    path("privacy/", account_views.privacy, name="privacy"),
    path("terms/", account_views.terms, name="terms"),
    path("favicon.ico", account_views.favicon, name="favicon"),
    path("token/", token_views.token_page, name="token_page"),
    path("token/confirm/<str:signed>/", token_views.token_confirm, name="token_confirm"),
    path("billing/checkout/", billing_views.checkout, name="billing_checkout"),
    path("billing/portal/", billing_views.portal, name="billing_portal"),
    path("billing/stripe/webhook/", billing_views.stripe_webhook, name="stripe_webhook"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("dashboard/coaches/", coaching_views.coaches, name="coaches"),
    path("dashboard/coaches/<int:grant_id>/edit/", coaching_views.edit_grant, name="coach_edit"),
    path("dashboard/coaches/<int:grant_id>/revoke/", coaching_views.revoke_grant, name="coach_revoke"),
    path("coach/", coaching_views.coach_dashboard, name="coach_dashboard"),
    path("coach/invite/<str:signed>/", coaching_views.invite_page, name="coach_invite"),
    path("coach/invites/<int:grant_id>/answer/", coaching_views.answer_invite, name="coach_invite_answer"),
    path("coach/athletes/<int:grant_id>/remove/", coaching_views.remove_coached_athlete, name="coach_remove_athlete"),
    path("coach/api-key/", coaching_views.coach_api_key, name="coach_api_key"),
    path("coach/api-key/remove/", coaching_views.coach_api_key_remove, name="coach_api_key_remove"),
    path("coach/roster/refresh/", coaching_views.coach_roster_refresh, name="coach_roster_refresh"),
    path("dashboard/access-log/", coaching_views.access_log, name="access_log"),
    path("dashboard/access-log/<int:entry_id>/undo/", coaching_views.undo_log_entry, name="access_log_undo"),
    path("intervals/connect/", intervals_views.connect, name="intervals_connect"),
    path("intervals/callback/", intervals_views.callback, name="intervals_callback"),
    path("intervals/disconnect/", intervals_views.disconnect, name="intervals_disconnect"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
]

if settings.STRIPE_GATEWAY == "fake" and (settings.DEBUG or settings.TESTING):
    # Stand-ins for Stripe's hosted pages: the embedded default and the tests only, never production.
    from integrations.stripe import fake_views

    urlpatterns += [
        path("billing/fake-stripe/checkout/<str:session_id>/", fake_views.checkout, name="fake_stripe_checkout"),
        path("billing/fake-stripe/portal/<str:portal_id>/", fake_views.portal, name="fake_stripe_portal"),
    ]
