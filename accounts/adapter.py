"""allauth glue: one canonical form for every typed address; every allauth email goes through our outbox
(recorded, then sent by Celery)."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context as allauth_context
from django.contrib.sites.shortcuts import get_current_site
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.http import HttpRequest

from accounts import emails
from accounts.identity import InvalidEmail, canonical_email


class AccountAdapter(DefaultAccountAdapter):
    def clean_email(self, email: str) -> str:
        """The canonical address (accounts.identity) of what was typed at signup, on the email page and in
        a password reset (and at login, through accounts.forms): allauth then compares it exactly with the
        stored addresses, which are canonical too. An address with no canonical form is refused."""
        try:
            return canonical_email(super().clean_email(email))
        except InvalidEmail as exc:
            raise ValidationError(str(exc), code="invalid") from None

    def send_confirmation_mail(self, request: HttpRequest, emailconfirmation: Any, signup: bool) -> None:
        """Our own verification email (templates/emails/verification/)."""
        emails.send_verification_email(
            emailconfirmation.email_address.email,
            activate_url=self.get_email_confirmation_url(request, emailconfirmation),
            signup=signup,
        )

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        """allauth's other emails (password reset, "account exists", ...) keep allauth's templates but are
        recorded and queued like ours."""
        request = allauth_context.request
        ctx = {"request": request, "email": email, "current_site": get_current_site(request), **context}
        message = self.render_mail(template_prefix, email, ctx)
        html = None
        if isinstance(message, EmailMultiAlternatives):
            html = next((str(body) for body, mime in message.alternatives if mime == "text/html"), None)
        emails.record_email(
            kind="allauth:" + template_prefix.rsplit("/", 1)[-1],
            to_email=email,
            subject=message.subject,
            text=str(message.body),
            html=html,
        )
