"""Security headers on every page, CSRF on every form but the webhook, and Django's deploy checks."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from django.test import Client

from tests.conftest import make_athlete
from tests.stack_helpers import ROOT, production_env

pytestmark = pytest.mark.django_db

PUBLIC = ["/", "/connect/", "/token/", "/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"]
PRIVATE = ["/dashboard/", "/dashboard/billing/", "/dashboard/access-log/", "/connect/"]


def assert_secure_headers(response: Any) -> None:
    csp = response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "object-src 'none'" in csp and "base-uri 'none'" in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] in ("same-origin", "no-referrer")
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_it_sends_the_security_headers_on_every_page() -> None:
    client = Client()
    for path in PUBLIC:
        response = client.get(path)
        assert response.status_code == 200, path
        assert_secure_headers(response)
    client.force_login(make_athlete("mara@example.com", athlete_id=None))
    for path in PRIVATE:
        response = client.get(path)
        assert response.status_code == 200, path
        assert_secure_headers(response)


def test_it_lets_the_oauth_connect_form_redirect_to_intervals(settings: Any) -> None:
    settings.INTERVALS_BASE_URL = "https://intervals.icu"
    csp = Client().get("/")["Content-Security-Policy"]
    assert "form-action 'self' https://intervals.icu" in csp


def test_it_sends_hsts_over_https_in_production(settings: Any) -> None:
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    response = Client().get("/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


def test_it_requires_csrf_on_forms_but_not_on_the_webhook() -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_athlete("mara@example.com", athlete_id=None))
    for path in (
        "/token/",
        "/dashboard/mcp-url/regenerate/",
        "/billing/checkout/",
        "/billing/portal/",
        "/intervals/disconnect/",
    ):
        assert client.post(path).status_code == 403, path
    assert client.post("/billing/stripe/webhook/", b"{}", content_type="application/json").status_code == 400


def test_it_passes_the_deploy_checks_with_production_settings() -> None:
    env = production_env(SITE_URL="https://threshold.example", ALLOWED_HOSTS="threshold.example")
    env.pop("SECURE_SSL_REDIRECT")  # production's default: on
    env["SECRET_KEY"] = "k9$Vt2!pQz7#Lr4@Wm8^Xn1&Hs6*Bj3%Fd5(Gc0)Ya-Ue_Io+Op=Aq"
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
