"""The admin site's login, throttled like the public pages (accounts.throttle).

Django's admin login has no limit of its own: without this, passwords could be tried at full speed.
Every attempt counts (per client IP and per address), so after the limit even the right password waits
for the window to pass; the site login (allauth) is limited in the same spirit. Fails closed while the
counter store is unreachable: staff have `manage.py` during an outage, brute force gets nothing.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from accounts import throttle
from accounts.identity import canonical_or_none


class ThrottledAdminLoginForm(AdminAuthenticationForm):
    def clean(self) -> dict[str, Any]:
        typed = str(self.data.get("username", ""))[:1000]
        address = canonical_or_none(typed) or typed.strip().lower()
        client_ip = str(self.request.META.get("REMOTE_ADDR", "")) if self.request is not None else ""
        window = settings.ADMIN_LOGIN_LIMIT_WINDOW_SECONDS
        try:
            allowed = throttle.hit(
                "admin-login-ip", client_ip, limit=settings.ADMIN_LOGIN_LIMIT_PER_IP, window_seconds=window
            ) and throttle.hit(
                "admin-login-address", address, limit=settings.ADMIN_LOGIN_LIMIT_PER_ADDRESS, window_seconds=window
            )
        except throttle.ThrottleUnavailable:
            raise ValidationError("Login is briefly unavailable. Please try again in a few minutes.") from None
        if not allowed:
            raise ValidationError("Too many login attempts. Please try again later.", code="throttled")
        return super().clean()


admin.site.login_form = ThrottledAdminLoginForm
