"""One canonical form for email addresses, compared exactly: look-alike addresses never reach another
person's account, MCP URL or coach token.

The look-alikes are the ones PostgreSQL's case folding treats as equal: upper(U+0131 dotless i) = 'I' (in
a domain: mail to it goes to `xn--mal-kua.example`, another registrable domain) and upper(U+017F long s) =
'S'; plus the Kelvin sign U+212A and full-width letters, which NFKC turns into ASCII (the same mailbox
then, and mail only ever goes to the stored address).
"""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.core import mail
from django.test import Client

from accounts.actions import ensure_athlete_token, reveal_token
from accounts.identity import NON_ASCII_LOCAL, InvalidEmail, canonical_email
from accounts.models import AuditEvent, McpToken, User
from coaching.models import CoachGrant
from tests.billing_helpers import commit_each_request
from tests.conftest import DIEGO, MARA, PASSWORD, Sandbox, make_athlete

__all__ = ["commit_each_request"]

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("commit_each_request")]

DOTLESS_I = "\u0131"  # PostgreSQL upper-cases it to I
LONG_S = "\u017f"  # PostgreSQL upper-cases it to S; NFKC makes it s
KELVIN = "\u212a"  # KELVIN SIGN: NFKC makes it K


def full_width(text: str) -> str:
    """`text` in full-width letters (U+FF41...), which NFKC turns back into ASCII."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isalpha() else c for c in text)


FULL_WIDTH_SAM = full_width("sam")


@pytest.fixture(autouse=True)
def _fresh_limits(settings: Any) -> None:
    from django.core.cache import cache

    cache.clear()
    settings.TOKEN_PAGE_LIMIT_PER_ADDRESS = 50
    settings.TOKEN_PAGE_LIMIT_PER_IP = 500


def test_it_gives_every_spelling_of_an_address_one_ascii_form() -> None:
    assert canonical_email("  Mara@Mail.Example ") == "mara@mail.example"
    assert canonical_email(f"mara@ma{DOTLESS_I}l.example") == "mara@xn--mal-kua.example"
    assert canonical_email(f"{LONG_S}am@mail.example") == "sam@mail.example"
    assert canonical_email(f"{KELVIN}ate@mail.example") == "kate@mail.example"
    assert canonical_email(f"{FULL_WIDTH_SAM}@{full_width('mail')}.example") == "sam@mail.example"
    assert canonical_email("sam@mail。example.") == "sam@mail.example"
    assert canonical_email("sam@straße.de") == "sam@xn--strae-oqa.de"  # non-transitional, like browsers
    with pytest.raises(InvalidEmail, match=re.escape(NON_ASCII_LOCAL)):
        canonical_email(f"v{DOTLESS_I}ctim@mail.example")
    for bad in (
        "",
        "mara",
        "@mail.example",
        "mara@",
        "mara@-mail.example",
        "a b@mail.example",
        "m@a..b",
        "x" * 65 + "@a.b",
    ):
        with pytest.raises(InvalidEmail):
            canonical_email(bad)


# --- the public /token/ page --------------------------------------------------------------------------


def victim(address: str) -> McpToken:
    user = make_athlete(address, athlete_id=None)
    token = ensure_athlete_token(user)
    assert token is not None
    mail.outbox.clear()
    return token


def confirm_links() -> list[str]:
    return [m for msg in mail.outbox for m in re.findall(r"/token/confirm/[^/\s]+/", msg.body)]


def recipients() -> set[str]:
    return {to for msg in mail.outbox for to in msg.to}


@pytest.mark.parametrize("action", ["resend", "regenerate"])
def test_it_mails_nothing_to_a_look_alike_domain_on_the_token_page(action: str) -> None:
    token = victim("mara@mail.example")
    response = Client().post("/token/", {"email": f"mara@ma{DOTLESS_I}l.example", "action": action})
    assert response.status_code == 200  # the same answer as for any address
    assert mail.outbox == []
    token.refresh_from_db()
    assert token.revoked_at is None


@pytest.mark.parametrize("action", ["resend", "regenerate"])
@pytest.mark.parametrize(
    ("stored", "typed"),
    [
        ("sam@mail.example", f"{LONG_S}am@mail.example"),
        ("kate@mail.example", f"{KELVIN}ate@mail.example"),
        ("sam@mail.example", f"{FULL_WIDTH_SAM}@mail.example"),
        ("sam@mail.example", "SAM@MAIL.EXAMPLE"),
    ],
)
def test_it_mails_only_the_stored_address_whatever_spelling_was_typed(stored: str, typed: str, action: str) -> None:
    token = victim(stored)
    Client().post("/token/", {"email": typed, "action": action})
    assert recipients() == {stored}
    for link in confirm_links():
        Client().post(link)
    assert recipients() == {stored}  # the URL (resent or new) went to the owner too
    assert reveal_token(McpToken.objects.get(user=token.user, revoked_at__isnull=True)) in mail.outbox[-1].body


def test_it_refuses_an_address_with_a_non_ascii_local_part_on_the_token_page() -> None:
    victim("victim@mail.example")
    response = Client().post("/token/", {"email": f"v{DOTLESS_I}ctim@mail.example", "action": "resend"})
    assert response.status_code == 400 and "plain letters" in response.content.decode()
    assert mail.outbox == []


# --- signup, login and password reset through allauth ---------------------------------------------------


def signup(address: str, client: Client | None = None) -> Any:
    return (client or Client()).post(
        "/accounts/signup/", {"email": address, "password1": PASSWORD, "password2": PASSWORD}, follow=True
    )


def verify_last_signup(client: Client) -> None:
    link = re.search(r"/accounts/confirm-email/[^/\s]+/", mail.outbox[-1].body)
    assert link, mail.outbox[-1].body
    client.post(link.group(0))


def all_addresses_canonical() -> None:
    from allauth.account.models import EmailAddress

    stored = [*User.objects.values_list("email", flat=True), *EmailAddress.objects.values_list("email", flat=True)]
    stored += list(McpToken.objects.values_list("email", flat=True))
    for address in [*stored, *recipients()]:
        assert address.isascii() and canonical_email(address) == address, address


def test_it_stores_a_look_alike_domain_as_its_own_ascii_address_at_signup() -> None:
    make_athlete("mara@mail.example", athlete_id=None)
    mail.outbox.clear()
    signup(f"mara@ma{DOTLESS_I}l.example")
    assert User.objects.filter(email="mara@xn--mal-kua.example").exists()
    assert recipients() == {"mara@xn--mal-kua.example"}  # its verification email, to its own domain
    all_addresses_canonical()


@pytest.mark.parametrize(
    "typed",
    [
        f"{LONG_S}am@mail.example",
        f"{FULL_WIDTH_SAM}@mail.example",
        f"Sam@{full_width('mail')}.example",
        "SAM@MAIL.EXAMPLE",
    ],
)
def test_it_treats_a_case_folding_look_alike_as_the_registered_address_at_signup(typed: str) -> None:
    make_athlete("sam@mail.example", athlete_id=None)
    mail.outbox.clear()
    signup(typed)
    assert list(User.objects.values_list("email", flat=True)) == ["sam@mail.example"]  # no second account
    assert recipients() <= {"sam@mail.example"}  # "you already have an account", to the owner only
    all_addresses_canonical()


def test_it_logs_in_a_look_alike_only_to_its_own_account() -> None:
    make_athlete("mara@mail.example", athlete_id=None)
    look_alike = Client()
    signup(f"mara@ma{DOTLESS_I}l.example", look_alike)
    verify_last_signup(look_alike)
    for typed in (f"mara@ma{DOTLESS_I}l.example", "mara@xn--mal-kua.example"):
        client = Client()
        response = client.post("/accounts/login/", {"login": typed, "password": PASSWORD})
        assert response.status_code == 302, typed
        assert User.objects.get(pk=client.session["_auth_user_id"]).email == "mara@xn--mal-kua.example"
    # Spellings NFKC makes equal reach the registered account, as its own address does.
    client = Client()
    client.post("/accounts/login/", {"login": "MARA@MAIL.example", "password": PASSWORD})
    assert User.objects.get(pk=client.session["_auth_user_id"]).email == "mara@mail.example"


def test_it_mails_a_password_reset_only_to_the_stored_address() -> None:
    make_athlete("sam@mail.example", athlete_id=None)
    mail.outbox.clear()
    for typed in (f"{LONG_S}am@mail.example", f"{FULL_WIDTH_SAM}@mail.example", f"sam@ma{DOTLESS_I}l.example"):
        Client().post("/accounts/password/reset/", {"email": typed})
    reset_links = [m for m in mail.outbox if "/accounts/password/reset/key/" in m.body]
    assert reset_links and all(m.to == ["sam@mail.example"] for m in reset_links)
    all_addresses_canonical()  # the look-alike domain's "no account here" went to its ASCII form


# --- coach invites and the coach page ---------------------------------------------------------------------


def invite(athlete_email: str, coach_email: str) -> None:
    client = Client()
    client.force_login(User.objects.get(email=athlete_email))
    client.post("/dashboard/coaches/", {"coach_email": coach_email, "tools": ["get_training_history"]})


def coach_url_of(address: str) -> str:
    row = McpToken.objects.get(kind=McpToken.Kind.COACH, email=address, revoked_at__isnull=True)
    return reveal_token(row)


@pytest.mark.parametrize("look_alike", [f"sam@ma{DOTLESS_I}l.example", f"{LONG_S}am@mail.example"])
def test_it_never_shows_an_invited_coachs_url_to_a_look_alike_signup(look_alike: str, sandbox: Sandbox) -> None:
    make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)  # only a connected athlete invites
    invite("mara@example.com", "sam@mail.example")
    raw = coach_url_of("sam@mail.example")

    intruder = Client()
    signup(look_alike, intruder)
    last = mail.outbox[-1]
    if "/accounts/confirm-email/" in last.body and last.to != ["sam@mail.example"]:
        verify_last_signup(intruder)  # the look-alike's own mailbox: it can verify its own address
    page = intruder.get("/coach/")
    assert raw not in page.content.decode()
    assert McpToken.objects.get(kind=McpToken.Kind.COACH).user is None  # still waiting for Sam


def test_it_never_gives_a_new_coach_token_to_a_look_alike_account(sandbox: Sandbox) -> None:
    make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    intruder = Client()
    signup(f"sam@ma{DOTLESS_I}l.example", intruder)
    verify_last_signup(intruder)
    invite("mara@example.com", "sam@mail.example")
    token = McpToken.objects.get(kind=McpToken.Kind.COACH)
    assert token.user is None and token.email == "sam@mail.example"
    assert reveal_token(token) not in intruder.get("/coach/").content.decode()
    assert [m.to for m in mail.outbox if "invited you" in m.subject] == [["sam@mail.example"]]


def test_it_joins_invites_to_one_coach_under_any_spelling_and_mails_the_stored_address(sandbox: Sandbox) -> None:
    make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)  # only a connected athlete invites
    make_athlete("diego@example.com", athlete_id=DIEGO, sandbox=sandbox)
    invite("mara@example.com", "sam@mail.example")
    invite("diego@example.com", f"SAM@{full_width('MAIL')}.EXAMPLE")
    assert McpToken.objects.filter(kind=McpToken.Kind.COACH).count() == 1
    assert set(CoachGrant.objects.values_list("coach_email", flat=True)) == {"sam@mail.example"}
    assert recipients() <= {"sam@mail.example", "mara@example.com", "diego@example.com"}
    all_addresses_canonical()


# --- the data migration ---------------------------------------------------------------------------------


def test_the_migration_rewrites_stored_addresses_and_reports_what_it_cannot() -> None:
    from allauth.account.models import EmailAddress

    from accounts.actions import _create_token

    migration = importlib.import_module("accounts.migrations.0003_canonical_email_addresses")
    # Rows as the code before this change could store them (it lower-cased and nothing more).
    look_alike = User.objects.create(email=f"mara@ma{DOTLESS_I}l.example")
    EmailAddress.objects.create(user=look_alike, email=look_alike.email, verified=True, primary=True)
    sam = User.objects.create(email="sam@mail.example")
    long_s = User.objects.create(email=f"{LONG_S}am@mail.example")
    accented = User.objects.create(email="müller@example.de")
    athlete = make_athlete("aroha@example.com", athlete_id=None)
    coach_token, _ = _create_token(user=None, email="coach@mail.example", kind=McpToken.Kind.COACH)
    McpToken.objects.filter(pk=coach_token.pk).update(email="Coach@Mail.Example")
    grant = CoachGrant.objects.create(athlete=athlete, coach_email="Coach@Mail.Example", coach_token=coach_token)

    migration.canonicalise(django_apps, None)

    look_alike.refresh_from_db()
    assert look_alike.email == "mara@xn--mal-kua.example"
    assert EmailAddress.objects.get(user=look_alike).email == "mara@xn--mal-kua.example"
    coach_token.refresh_from_db()
    grant.refresh_from_db()
    assert coach_token.email == grant.coach_email == "coach@mail.example"
    # Never merged: the colliding and the uncanonicalisable stay as they were, reported.
    assert User.objects.get(pk=sam.pk).email == "sam@mail.example"
    assert User.objects.get(pk=long_s.pk).email == f"{LONG_S}am@mail.example"
    assert User.objects.get(pk=accented.pk).email == "müller@example.de"
    reported = {
        (e.subject_id, e.detail["reason"]) for e in AuditEvent.objects.filter(action="identity.not_canonicalised")
    }
    assert reported == {(long_s.pk, "would collide as sam@mail.example"), (accented.pk, "no canonical form")}
