"""OAuth 2 emulation: the consent page and the token endpoint."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from .state import SCOPE_AREAS, SandboxState

_SCOPE_RX = re.compile(r"^({}):(READ|WRITE)$".format("|".join(SCOPE_AREAS)))

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f4f5f7;color:#1d2433;margin:0}}
main{{max-width:30rem;margin:3rem auto;background:#fff;border-radius:10px;padding:2rem;
box-shadow:0 2px 10px rgba(0,0,0,.08)}}
h1{{font-size:1.35rem;margin-top:0}} .muted{{color:#5b6478;font-size:.9rem}}
fieldset{{border:1px solid #d5d9e2;border-radius:8px;margin:1rem 0;padding:.75rem 1rem}}
label{{display:block;margin:.35rem 0}} select{{font-size:1rem;padding:.3rem;width:100%}}
.buttons{{display:flex;gap:.75rem;margin-top:1.25rem}}
button{{font-size:1rem;padding:.6rem 1.4rem;border-radius:6px;border:1px solid #2f6fde;cursor:pointer}}
button.approve{{background:#2f6fde;color:#fff}} button.deny{{background:#fff;color:#2f6fde}}
.error{{color:#a61b1b}}
</style></head><body><main>{body}</main></body></html>"""

SCOPE_LABELS = {
    "ACTIVITY": "Activities, streams and power curves",
    "WELLNESS": "Wellness (HRV, sleep, weight…)",
    "CALENDAR": "Calendar: planned workouts, races and notes",
    "LIBRARY": "Workout library",
    "SETTINGS": "Profile, zones and sport settings",
    "CHATS": "Activity comments and chats",
}


def parse_scopes(raw: str) -> list[str]:
    parts = [p.strip().upper() for p in re.split(r"(?:,|%2C|\s)+", raw or "", flags=re.IGNORECASE) if p.strip()]
    seen: list[str] = []
    for p in parts:
        if p not in seen:
            seen.append(p)
    return seen


def _redirect_ok(state: SandboxState, client_id: str, uri: str) -> bool:
    allowed = state.config.clients[client_id][1]
    if allowed is not None:
        return uri in allowed
    parts = urlsplit(uri)
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost")


def _with_query(uri: str, params: dict[str, str]) -> str:
    parts = urlsplit(uri)
    q = parse_qsl(parts.query, keep_blank_values=True) + [(k, v) for k, v in params.items()]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(q), parts.fragment))


def _error_page(message: str, status: int = 400) -> HTMLResponse:
    body = (
        f'<h1>Intervals.icu (sandbox)</h1><p class="error" role="alert">{html.escape(message)}</p>'
        '<p class="muted">The application that sent you here is misconfigured.</p>'
    )
    return HTMLResponse(_PAGE.format(title="Authorization error", body=body), status_code=status)


def _validate(state: SandboxState, client_id: str, redirect_uri: str, scope: str) -> str | list[str]:
    if client_id not in state.config.clients:
        return f"Unknown client_id: {client_id or '(missing)'}"
    if not redirect_uri or not _redirect_ok(state, client_id, redirect_uri):
        return "Invalid redirect_uri"
    scopes = parse_scopes(scope)
    if not scopes:
        return "No scope requested"
    bad = [s for s in scopes if not _SCOPE_RX.match(s)]
    if bad:
        return f"Invalid scope: {', '.join(bad)}"
    return scopes


async def authorize(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    if request.method == "POST":
        form = await request.form()
        params = {
            k: str(form.get(k) or "")
            for k in ("client_id", "redirect_uri", "state", "requested_scope", "athlete", "decision")
        }
        ticked = [str(v) for v in form.getlist("scope")]
        checked = _validate(state, params["client_id"], params["redirect_uri"], params["requested_scope"])
        if isinstance(checked, str):
            return _error_page(checked)
        extra = {"state": params["state"]} if params["state"] else {}
        if params["decision"] != "approve":
            return RedirectResponse(_with_query(params["redirect_uri"], {"error": "access_denied", **extra}), 302)
        athlete = state.normalize_id(params["athlete"]) if params["athlete"] else ""
        if athlete not in state.specs:
            return _error_page("Please choose which athlete you are signing in as.")
        scopes = tuple(s for s in checked if s in ticked)
        code = state.issue_code(params["client_id"], athlete, scopes, params["redirect_uri"])
        return RedirectResponse(_with_query(params["redirect_uri"], {"code": code, **extra}), 302)

    q = request.query_params
    client_id, redirect_uri = q.get("client_id", ""), q.get("redirect_uri", "")
    checked = _validate(state, client_id, redirect_uri, q.get("scope", ""))
    if isinstance(checked, str):
        return _error_page(checked)
    action = html.escape(request.scope.get("root_path", "") + "/oauth/authorize")
    options = "".join(
        f'<option value="{s.id}"{" selected" if n == 0 else ""}>{html.escape(s.name)} ({s.id})</option>'
        for n, s in enumerate(state.specs.values())
    )
    boxes = "".join(
        f'<label><input type="checkbox" name="scope" value="{s}" checked> '
        f'<strong>{s}</strong> <span class="muted">— {html.escape(SCOPE_LABELS[s.split(":")[0]])}'
        f"{' (read &amp; write)' if s.endswith('WRITE') else ' (read only)'}</span></label>"
        for s in checked
    )
    hidden = "".join(
        f'<input type="hidden" name="{k}" value="{html.escape(v)}">'
        for k, v in (
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("state", q.get("state", "")),
            ("requested_scope", ",".join(checked)),
        )
    )
    body = f"""<h1>Intervals.icu (sandbox)</h1>
<p><strong>{html.escape(client_id)}</strong> would like to access your Intervals.icu account.</p>
<p class="muted">This is an offline sandbox of Intervals.icu: no password is needed, pick a demo athlete.</p>
<form method="post" action="{action}">
{hidden}
<label for="athlete">Sign in as</label>
<select id="athlete" name="athlete">{options}</select>
<fieldset><legend>Permissions requested (untick any you do not want to grant)</legend>{boxes}</fieldset>
<div class="buttons"><button class="approve" type="submit" name="decision" value="approve">Approve</button>
<button class="deny" type="submit" name="decision" value="deny">Deny</button></div>
</form>"""
    return HTMLResponse(_PAGE.format(title="Authorize application — Intervals.icu (sandbox)", body=body))


async def token(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    ctype = request.headers.get("content-type", "")
    fields: dict[str, str] = {}
    if "json" in ctype:
        try:
            raw = await request.json()
            fields = {k: str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
        except ValueError:
            fields = {}
    else:
        form = await request.form()
        fields = {k: str(v) for k, v in form.items()}
    for k, v in request.query_params.items():
        fields.setdefault(k, v)
    client_id, secret, code = fields.get("client_id", ""), fields.get("client_secret", ""), fields.get("code", "")
    client = state.config.clients.get(client_id)
    if client is None or client[0] != secret:
        return JSONResponse({"status": 404, "error": "Client and/or secret not found"}, status_code=404)
    info = request.scope.get("sandbox.auth")
    if info is not None:
        info["kind"] = "client"
    result = state.exchange_code(client_id, code)
    if isinstance(result, str):
        return JSONResponse({"status": 400, "error": result}, status_code=400)
    if info is not None:
        info["athlete"] = result.athlete_id
    spec = state.specs[result.athlete_id]
    return JSONResponse(
        {
            "token_type": "Bearer",
            "access_token": result.token,
            "scope": ",".join(result.scopes),
            "athlete": {"id": spec.number, "name": spec.name},
        }
    )
