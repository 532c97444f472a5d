"""An address change moves the MCP URLs with it: the /token/ page finds tokens by the owner's current
verified address, so an address the owner left behind no longer gets the URL mailed to it."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from accounts.actions import ensure_athlete_token, reveal_token
from accounts.models import McpToken, User
from coaching.actions import accept_invite, invite_coach
from tests.billing_helpers import commit_each_request
from tests.conftest import AROHA, Sandbox, make_athlete

__all__ = ["commit_each_request"]

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("commit_each_request")]


@pytest.fixture(autouse=True)
def _fresh_limits() -> None:
    from django.core.cache import cache

    cache.clear()


def change_address(user: User, new: str) -> None:
    """Through allauth's own email page: add the address, confirm it from its mailbox, make it primary."""
    client = Client()
    client.force_login(user)
    client.post("/accounts/email/", {"action_add": "", "email": new})
    link = re.search(r"/accounts/confirm-email/[^/\s]+/", mail.outbox[-1].body)
    assert link and mail.outbox[-1].to == [new]
    client.post(link.group(0))
    client.post("/accounts/email/", {"action_primary": "", "email": new})
    user.refresh_from_db()
    assert user.email == new


def ask_and_confirm(address: str, action: str = "resend") -> None:
    mail.outbox.clear()
    Client().post("/token/", {"email": address, "action": action})
    for message in list(mail.outbox):
        for link in re.findall(r"/token/confirm/[^/\s]+/", message.body):
            Client().post(link)


def test_it_mails_the_url_to_the_new_address_and_nothing_to_the_old_one() -> None:
    mara = make_athlete("mara@old.example", athlete_id=None)
    token = ensure_athlete_token(mara)
    assert token is not None
    change_address(mara, "mara@new.example")

    ask_and_confirm("mara@old.example")
    assert mail.outbox == []
    ask_and_confirm("mara@old.example", "regenerate")
    assert mail.outbox == []
    token.refresh_from_db()
    assert token.revoked_at is None

    ask_and_confirm("mara@new.example")
    assert {to for m in mail.outbox for to in m.to} == {"mara@new.example"}
    assert reveal_token(token) in mail.outbox[-1].body
    token.refresh_from_db()
    assert token.email == "mara@new.example"  # the copy on the token followed the account


def test_it_moves_a_coach_url_with_the_coachs_new_address(sandbox: Sandbox) -> None:
    # Only a connected athlete can invite, and Sam's URL reaches her once he accepts.
    aroha = make_athlete("aroha@example.com", athlete_id=AROHA, sandbox=sandbox)
    sam = make_athlete("sam@old.example", athlete_id=None)
    grant = accept_invite(invite_coach(aroha, "sam@old.example", ["get_training_history"]))
    coach_token = McpToken.objects.get(pk=grant.coach_token_id)
    assert coach_token.user_id == sam.pk
    change_address(sam, "sam@new.example")

    ask_and_confirm("sam@old.example")
    assert mail.outbox == []
    ask_and_confirm("sam@new.example")
    assert reveal_token(coach_token) in mail.outbox[-1].body and mail.outbox[-1].to == ["sam@new.example"]


def test_it_still_reaches_a_coach_without_an_account_by_the_invited_address(sandbox: Sandbox) -> None:
    aroha = make_athlete("aroha@example.com", athlete_id=AROHA, sandbox=sandbox)
    grant = accept_invite(invite_coach(aroha, "cora@coach.example", ["get_training_history"]))
    ask_and_confirm("Cora@Coach.Example")
    assert mail.outbox[-1].to == ["cora@coach.example"]
    assert reveal_token(McpToken.objects.get(pk=grant.coach_token_id)) in mail.outbox[-1].body


def test_it_mails_nothing_for_an_unverified_address() -> None:
    from allauth.account.models import EmailAddress

    mara = make_athlete("mara@example.com", athlete_id=None)
    assert ensure_athlete_token(mara) is not None
    EmailAddress.objects.filter(user=mara).update(verified=False)
    ask_and_confirm("mara@example.com")
    assert mail.outbox == []
