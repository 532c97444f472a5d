"""The ASGI gate in front of the MCP session manager.

`/mcp/<token>` (or `/mcp/` with `Authorization: Bearer <token>`) → Principal (mcpserver.principal_cache)
→ MCP. Anything unknown, revoked or malformed gets one byte-identical 404 (never 401: a 401 sends Claude
into an OAuth discovery flow). Database work runs on mcpserver.db's long-lived threads, each hop releasing
its connection (see there why not a thread per request).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from mcp.server.mcpserver import MCPServer
from starlette.types import Message, Receive, Scope, Send

from accounts import tokens
from config.middleware import database_unavailable
from mcpserver import principal_cache, read_log
from mcpserver.principal import Principal

logger = logging.getLogger(__name__)

NOT_FOUND_BODY = (
    b'{"error":"not_found","message":"This MCP URL is not valid. Copy your personal URL again from your '
    b'Threshold dashboard."}'
)
TOO_LARGE_BODY = b'{"error":"payload_too_large","message":"Request body too large."}'
METHOD_BODY = b'{"error":"method_not_allowed","message":"Use POST for MCP requests."}'
_JSON = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body (None if the client disconnected first), read at most one chunk past the
    size limit: the caller answers 413 past it."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False) or size > settings.MCP_MAX_BODY_BYTES:
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """`receive` for the MCP transport: the body the gate already read, then the connection's own events."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


def _tool_call(body: bytes | None) -> tuple[str, Any] | None:
    """(tool name, raw arguments) when the body is a single JSON-RPC tools/call, else None. Only a hint
    for the principal cache's one-round-trip check: the MCP transport parses and validates the body."""
    if not body or b"tools/call" not in body:
        return None
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        # Broken JSON, or nesting deeper than the parser recurses (a 5,000-deep body): no hint. The MCP
        # transport's own parser refuses both with a 400 parse error; this hint must never turn one into a 503.
        return None
    if not isinstance(message, dict) or message.get("method") != "tools/call":
        return None
    params = message.get("params")
    name = params.get("name") if isinstance(params, dict) else None
    if not isinstance(name, str):
        return None
    return name, params.get("arguments") if isinstance(params, dict) else None


async def _respond(
    send: Send, status: int, body: bytes, extra_headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [*_JSON, (b"content-length", str(len(body)).encode()), *(extra_headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return ""


class TokenGate:
    """A raw ASGI app (a class instance, so Starlette's Route treats it as ASGI, not a view)."""

    def __init__(self, server: MCPServer, *, token_in_header: bool = False) -> None:
        self.server = server
        self.token_in_header = token_in_header

    def _token(self, scope: Scope) -> str:
        if self.token_in_header:
            auth = _header(scope, b"authorization")
            scheme, _, value = auth.partition(" ")
            return value.strip() if scheme.lower() == "bearer" else ""
        return str(scope.get("path_params", {}).get("token", ""))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        principal: Principal | None = None
        try:
            token = self._token(scope)
            body: bytes | None = None
            if token and tokens.is_well_formed(token) and scope["method"] == "POST":
                length = _header(scope, b"content-length")
                if length.isdigit() and int(length) > settings.MCP_MAX_BODY_BYTES:
                    await _respond(tracking_send, 413, TOO_LARGE_BODY)
                    return
                body = await _read_body(receive)
                if body is None:
                    return  # the client went away
                if len(body) > settings.MCP_MAX_BODY_BYTES:
                    await _respond(tracking_send, 413, TOO_LARGE_BODY)
                    return
                receive = _replaying(body, receive)
            principal = await principal_cache.authenticate(token, _tool_call(body)) if token else None
            if principal is None:
                await _respond(tracking_send, 404, NOT_FOUND_BODY)
                return
            if scope["method"] != "POST":
                # Stateless mode has no standalone stream or session to end: GET would hang open.
                await _respond(tracking_send, 405, METHOD_BODY, [(b"allow", b"POST")])
                return
            principal.deferred_log = []
            scope.setdefault("state", {})["principal"] = principal
            await self.server.session_manager.handle_request(scope, receive, tracking_send)
        except Exception as exc:
            if database_unavailable(exc):
                # One line, not a traceback per request while PostgreSQL is down.
                logger.warning("MCP gate: database unavailable (%s)", type(exc).__name__)
            else:
                logger.exception("MCP gate failure")
            if not started:
                body = b'{"error":"unavailable","message":"Threshold is temporarily unavailable. Try again shortly."}'
                await _respond(send, 503, body, [(b"retry-after", b"5")])
        finally:
            pending = principal.deferred_log if principal is not None else None
            if pending:
                # The answer is out: the call's read rows go to the access log's next batch.
                await read_log.record(pending)
