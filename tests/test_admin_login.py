"""The /admin/ login is throttled like the public pages: per address and per client IP, every attempt
counts, so a guessed password is refused once the limit is reached, even the right one."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import User

pytestmark = pytest.mark.django_db

PASSWORD = "staff-password-that-is-long-7"


@pytest.fixture(autouse=True)
def _fresh_limits(settings: Any) -> None:
    from django.core.cache import cache

    cache.clear()
    settings.ADMIN_LOGIN_LIMIT_PER_ADDRESS = 5
    settings.ADMIN_LOGIN_LIMIT_PER_IP = 20


@pytest.fixture
def sam() -> User:
    return User.objects.create_user("sam@example.com", PASSWORD, is_staff=True, is_superuser=True)


def admin_login(username: str, password: str, ip: str = "127.0.0.1") -> Any:
    client = Client(REMOTE_ADDR=ip)
    response = client.post(
        "/admin/login/?next=/admin/", {"username": username, "password": password, "next": "/admin/"}
    )
    return response, client


def test_it_logs_staff_in_to_the_admin(sam: User) -> None:
    response, client = admin_login("Sam@Example.com", PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_it_refuses_even_the_right_password_after_thirty_wrong_ones(sam: User) -> None:
    for n in range(30):
        response, _ = admin_login("sam@example.com", f"wrong-password-{n}", ip=f"198.51.100.{n}")
        assert response.status_code == 200
    response, client = admin_login("sam@example.com", PASSWORD, ip="198.51.100.200")
    assert response.status_code == 200 and "Too many login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_it_limits_one_client_ip_across_addresses(sam: User, settings: Any) -> None:
    settings.ADMIN_LOGIN_LIMIT_PER_IP = 4  # each refused password costs two hashes: keep the test short
    for n in range(4):
        admin_login(f"guess{n}@example.com", "wrong-password", ip="203.0.113.9")
    response, client = admin_login("sam@example.com", PASSWORD, ip="203.0.113.9")
    assert "Too many login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session
    response, _ = admin_login("sam@example.com", PASSWORD, ip="203.0.113.10")
    assert response.status_code == 302  # another network, and this address has attempts left


def test_it_counts_every_spelling_of_an_address_as_one(sam: User) -> None:
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in "example")
    spellings = [
        "sam@example.com",
        "SAM@example.com",
        "\u017fam@example.com",
        f"sam@{full_width}.com",
        "Sam@Example.COM",
    ]
    for n, spelling in enumerate(spellings):
        admin_login(spelling, "wrong-password", ip=f"198.51.100.{n}")
    response, _ = admin_login("sam@example.com", PASSWORD, ip="198.51.100.99")
    assert "Too many login attempts" in response.content.decode()
