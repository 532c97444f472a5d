"""Preview, then confirm: the tools that overwrite or delete never do it in one call.

A model that has just read text written by someone else (an activity comment, a calendar note, a
stranger's name) could be talked into "call delete_workout on every upcoming event". So a call of
edit_workout, delete_workout, undo_last_write, or log_wellness replacing a value, writes nothing unless
it carries a `confirm` code; without one (or with one that does not fit) it answers with the preview
and a fresh code. The code is issued only with a preview, so the change has been shown before it is made.

The code is an HMAC, keyed by SECRET_KEY, of the MCP URL's token, the tool, the athlete, the exact
arguments and what the preview showed (the event or values it would change), with its expiry. Nothing
is stored: it is refused for other arguments, another athlete, another URL, after CONFIRM_SECONDS, and
once the previewed state has changed (so a code used once cannot be replayed on what came after).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from django.conf import settings
from pydantic import Field

from mcpserver.catalogue import ToolCall
from mcpserver.principal import AthleteAccess
from mcpserver.tools.writes_common import WriteInput

CONFIRM_SECONDS = 600


class ConfirmInput(WriteInput):
    """Arguments of a tool that overwrites or deletes: the same, plus the code of its preview."""

    confirm: str | None = Field(default=None, max_length=64)  # described once, in the server instructions


def _clock() -> float:
    return time.time()


def _mac(call: ToolCall, access: AthleteAccess, args: ConfirmInput, state: Any, expires: int) -> str:
    bound = {
        "token": call.principal.token_id,
        "tool": call.tool_name,
        "athlete": access.athlete_id,
        # The athlete is bound by its resolved id; dry_run and the code itself are not part of the change.
        "args": args.model_dump(mode="json", exclude={"athlete", "dry_run", "confirm"}),
        "state": state,
        "expires": expires,
    }
    payload = json.dumps(bound, sort_keys=True, separators=(",", ":"), default=str).encode()
    key = hashlib.sha256(b"threshold-mcp-confirm\x00" + settings.SECRET_KEY.encode()).digest()
    digest = hmac.new(key, payload, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:22]


def issue(call: ToolCall, access: AthleteAccess, args: ConfirmInput, state: Any) -> str:
    """A code for exactly this call on exactly the previewed state, valid CONFIRM_SECONDS."""
    expires = int(_clock()) + CONFIRM_SECONDS
    return f"{expires:x}.{_mac(call, access, args, state, expires)}"


def confirmed(call: ToolCall, access: AthleteAccess, args: ConfirmInput, state: Any) -> bool:
    """Whether `args.confirm` is a live code issued for this very call and state."""
    code = (args.confirm or "").strip()
    stamp, _, mac = code.partition(".")
    try:
        expires = int(stamp, 16)
    except ValueError:
        return False
    now = _clock()
    if not (now <= expires <= now + CONFIRM_SECONDS + 1):
        return False
    return hmac.compare_digest(mac, _mac(call, access, args, state, expires))


def confirm_note(args: ConfirmInput, code: str | None) -> str | None:
    """The one sentence a preview carrying a code says (in its data and its text line), or None."""
    if code is None:
        return None
    how = (
        f'show the user this preview; once they agree, call again with the same arguments and confirm "{code}" '
        f"(valid {CONFIRM_SECONDS // 60} minutes)."
    )
    if args.dry_run:
        return "To apply it: " + how
    if args.confirm:
        return (
            "Nothing written: that confirm code does not fit this call (expired, issued for other arguments, "
            "another athlete or URL, or what it previewed has changed since); " + how
        )
    return "Nothing written: this change needs the user's go-ahead; " + how
