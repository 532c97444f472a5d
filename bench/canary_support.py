"""The canary-secret sweep's machinery: canaries, what leaves Threshold, and the scan.

Shared by tests/test_canary_secrets.py (the sweep, on every test run) and bench/canary.py (a larger
sweep that prints figures). A canary is a recognisable secret (``CANARY-<purpose>-<hex>``, or a value
the product issued itself, such as an MCP token or a session cookie). Every place something leaves the
system is a `Capture`: an HTTP response (status line, headers, body), the log output, a Celery task
payload, a sent email, a request to Intervals.icu, the database dump. `scan` looks for every canary in
every capture, raw, URL-encoded and base64-encoded (at each of the three byte alignments, so a canary
inside a longer base64 blob is found too); a hit outside `ALLOWED_PLACES` is a leak.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import secrets
import subprocess
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

# The only places a canary may appear, and why. Each capture that allows anything names one of these;
# the scan refuses any other name, so the list below is the whole exception list.
ALLOWED_PLACES: dict[str, str] = {
    "own-url-page": "GET /connect/ for its logged-in owner: the athlete's own current MCP URL (no-store, no-referrer)",
    "coach-url-page": "GET /coach/ for its logged-in owner: the coach's own current MCP URL (no-store)",
    "new-url-once": "the answer to a confirmed regenerate link: the address's new MCP URLs, shown once",
    "delivery-email": (
        "an email whose purpose is delivery, to the secret's own address: resend, regenerated and coach "
        "invite emails carry that address's MCP URL; the confirmation and coach invite emails carry their "
        "one-time link"
    ),
    "own-cookie": "a Set-Cookie header carrying that cookie's own value",
    "upstream-credential": (
        "a request to Intervals.icu itself: the linked OAuth token or API key in its Authorization header, "
        "the client secret in the body of the token exchange (POST /api/oauth/token)"
    ),
}

# Emails allowed to carry the secrets of their recipient, by kind (accounts.emails), and which secrets.
DELIVERY_KINDS: dict[str, tuple[str, ...]] = {
    "token_resend": ("mcp-athlete", "mcp-coach"),
    "token_regenerated": ("mcp-athlete", "mcp-coach"),
    "coach_invite": ("mcp-coach", "invite-link"),
    "token_confirmation": ("token-link",),
}


def new_canary(purpose: str) -> str:
    """A fresh, recognisable secret: ``CANARY-<purpose>-<16 hex>``."""
    return f"CANARY-{purpose}-{secrets.token_hex(8)}"


def _base64_needles(value: bytes) -> list[str]:
    """Base64 of `value` as it would appear inside a longer encoded blob, at each byte alignment.

    The characters shared with neighbouring bytes are dropped: 0, 2 or 3 at the start (for 0, 1 or 2
    bytes before it) and the last one when the blob does not end on a 3-byte boundary.
    """
    needles = []
    for shift, skip in ((0, 0), (1, 2), (2, 3)):
        encoded = base64.b64encode(b"\0" * shift + value).decode().rstrip("=")
        end = len(encoded) - (1 if (shift + len(value)) % 3 else 0)
        needles.append(encoded[skip:end])
    return needles


@dataclass(frozen=True)
class Canary:
    purpose: str
    value: str
    owner: str = ""  # the address a delivery email may carry it to ("" = none)

    def needles(self) -> list[tuple[str, str, bool]]:
        """(encoding, needle, case_sensitive) for every encoding the scan looks for."""
        out = [
            ("raw", self.value.lower(), False),
            ("url", quote(self.value, safe="").lower(), False),
            ("form", quote_plus(self.value).lower(), False),
        ]
        for needle in _base64_needles(self.value.encode()):
            out.append(("base64", needle, True))
            out.append(("base64url", needle.replace("+", "-").replace("/", "_"), True))
        return out


@dataclass
class Capture:
    """Something that left the system. `allow`: canary values deliberately there, under `reason`."""

    place: str  # "response" | "log" | "task" | "email" | "upstream" | "dump"
    label: str
    text: str
    allow: frozenset[str] = frozenset()
    reason: str = ""


@dataclass(frozen=True)
class Hit:
    place: str
    label: str
    purpose: str
    encoding: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.purpose} ({self.encoding}) in {self.place}: {self.label} … {self.excerpt!r}"


@dataclass
class Report:
    canaries: int
    scanned: dict[str, int]  # captures per place
    scanned_bytes: dict[str, int]
    hits: list[Hit]
    allowed_seen: Counter[str]  # reason → canary sightings in allowed places
    log_lines: int = 0

    def hits_by_place(self) -> dict[str, int]:
        counts = {place: 0 for place in self.scanned}
        for hit in self.hits:
            counts[hit.place] = counts.get(hit.place, 0) + 1
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {
            "canaries": self.canaries,
            "scanned": self.scanned,
            "scanned_bytes": self.scanned_bytes,
            "log_lines": self.log_lines,
            "hits_by_place": self.hits_by_place(),
            "hits": [str(h) for h in self.hits],
            "allowed_seen": dict(self.allowed_seen),
        }


@dataclass
class Recorder:
    """The canaries of one sweep and everything captured while it ran (thread-safe enough: appends)."""

    canaries: dict[str, Canary] = field(default_factory=dict)
    captures: list[Capture] = field(default_factory=list)
    log_lines: int = 0

    def canary(self, purpose: str, value: str | None = None, *, owner: str = "") -> str:
        value = value or new_canary(purpose)
        if value and value not in self.canaries:
            self.canaries[value] = Canary(purpose, value, owner)
        return value

    def add(self, capture: Capture) -> None:
        if capture.allow and capture.reason not in ALLOWED_PLACES:
            raise ValueError(f"{capture.label}: {capture.reason!r} is not an allowed place")
        self.captures.append(capture)

    def response(self, label: str, response: Any, *, allow: Iterable[str] = (), reason: str = "") -> None:
        """An httpx response (and the redirects before it): status, headers, body. A Set-Cookie header
        may carry its own cookie's value; session and CSRF cookies become canaries as they are issued."""
        for one in [*response.history, response]:
            # The status line, not the request line: the URL is what the client sent, not what left us.
            head = [f"HTTP {one.status_code}"]
            for name, value in one.headers.multi_items():
                if name.lower() != "set-cookie":
                    head.append(f"{name}: {value}")
                    continue
                cookie_name, _, rest = value.partition("=")
                cookie_value = rest.split(";", 1)[0].strip('"')
                if cookie_name in ("sessionid", "csrftoken") and cookie_value:
                    self.canary(f"cookie-{cookie_name}", cookie_value)
                self.add(
                    Capture(
                        "response", f"{label}: Set-Cookie {cookie_name}", value, frozenset({cookie_value}), "own-cookie"
                    )
                )
            body = one.content.decode("utf-8", "replace")
            self.add(Capture("response", label, "\n".join(head) + "\n\n" + body, frozenset(allow), reason))

    def email(self, kind: str, message: Any) -> None:
        """A sent email (subject, recipients, text and HTML parts); delivery kinds may carry the
        recipient's own secrets of the kinds DELIVERY_KINDS names."""
        recipients = {str(r).lower() for r in message.to}
        parts = [f"To: {', '.join(message.to)}", f"Subject: {message.subject}", str(message.body)]
        parts += [str(content) for content, _mime in getattr(message, "alternatives", [])]
        purposes = DELIVERY_KINDS.get(kind, ())
        allow = frozenset(
            c.value for c in self.canaries.values() if c.purpose in purposes and c.owner.lower() in recipients
        )
        self.add(Capture("email", f"{kind} to {', '.join(message.to)}", "\n".join(parts), allow, "delivery-email"))


def scan(recorder: Recorder) -> Report:
    """Look for every canary, in every encoding, in every capture."""
    needles = [
        (c, enc, needle, sensitive) for c in recorder.canaries.values() for enc, needle, sensitive in c.needles()
    ]
    hits: list[Hit] = []
    allowed_seen: Counter[str] = Counter()
    scanned: Counter[str] = Counter()
    scanned_bytes: Counter[str] = Counter()
    for capture in recorder.captures:
        scanned[capture.place] += 1
        scanned_bytes[capture.place] += len(capture.text.encode())
        lowered = capture.text.lower()
        found: set[str] = set()  # one hit per canary and capture, in the first encoding that matches
        for canary, encoding, needle, sensitive in needles:
            if canary.value in found:
                continue
            haystack = capture.text if sensitive else lowered
            at = haystack.find(needle)
            if at < 0:
                continue
            found.add(canary.value)
            if canary.value in capture.allow:
                allowed_seen[capture.reason] += 1
                continue
            excerpt = capture.text[max(0, at - 60) : at + len(needle) + 20]
            hits.append(Hit(capture.place, capture.label, canary.purpose, encoding, excerpt))
    for place in ("response", "log", "task", "email", "upstream", "dump"):
        scanned.setdefault(place, 0)
        scanned_bytes.setdefault(place, 0)
    return Report(len(recorder.canaries), dict(scanned), dict(scanned_bytes), hits, allowed_seen, recorder.log_lines)


# --- Taps: logs, Celery payloads, requests to Intervals.icu, the database dump ------------------------------


class _NotTheTestsOwnClient(logging.Filter):
    """Drop what the sweep's own HTTP clients log (httpx/httpcore in the driving thread: they print the
    URLs and cookies they were given); the product's own httpx calls run in its server threads."""

    def __init__(self) -> None:
        super().__init__()
        self.driver = threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.thread == self.driver and record.name.split(".")[0] in ("httpx", "httpcore"))


class _CountingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    def __init__(self, stream: io.StringIO, recorder: Recorder) -> None:
        super().__init__(stream)
        self.recorder = recorder

    def emit(self, record: logging.LogRecord) -> None:
        self.recorder.log_lines += 1
        super().emit(record)


@contextmanager
def capture_logs(recorder: Recorder) -> Iterator[None]:
    """Every record from every logger at DEBUG, written through the project's own console formatter and
    masking filter (settings.LOGGING), plus whatever the already configured stream handlers (uvicorn's
    among them) write meanwhile. What is scanned is the text after masking: what a log file would hold."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    config: dict[str, Any] = settings.LOGGING
    plain = config["formatters"]["plain"]
    formatter = import_string(plain["()"])(plain["format"])
    project_out, existing_out = io.StringIO(), io.StringIO()
    handler = _CountingHandler(project_out, recorder)
    handler.setFormatter(formatter)
    handler.addFilter(import_string(config["filters"]["mask_secrets"]["()"])())
    handler.setLevel(logging.DEBUG)
    not_ours = _NotTheTestsOwnClient()
    handler.addFilter(not_ours)

    root = logging.getLogger()
    loggers = [root] + [lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    saved_levels = {lg: (lg.level, lg.disabled) for lg in loggers}
    redirected: list[tuple[logging.StreamHandler, Any]] = []  # type: ignore[type-arg]
    attached = []
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        lg.disabled = False
        for existing in lg.handlers:
            # Plain stream handlers (the project's console, uvicorn's): not files, not pytest's capture.
            plain_stream = type(existing) is logging.StreamHandler or type(existing).__module__.startswith("uvicorn")
            if (
                isinstance(existing, logging.StreamHandler)
                and plain_stream
                and existing not in {h for h, _ in redirected}
            ):
                redirected.append((existing, existing.setStream(existing_out)))
                existing.addFilter(not_ours)
        if lg is root or not lg.propagate:
            lg.addHandler(handler)
            attached.append(lg)
    try:
        yield
    finally:
        for lg in attached:
            lg.removeHandler(handler)
        for existing, stream in redirected:
            existing.setStream(stream)
            existing.removeFilter(not_ours)
        for lg, (level, disabled) in saved_levels.items():
            lg.setLevel(level)
            lg.disabled = disabled
        recorder.add(Capture("log", "project console handler (masked)", project_out.getvalue()))
        recorder.add(Capture("log", "configured stream handlers", existing_out.getvalue()))


@contextmanager
def capture_tasks(recorder: Recorder) -> Iterator[None]:
    """Every Celery task submission: the serialized call as the broker would get it. Eager runs never
    publish, so `Task.apply_async` itself is wrapped; `before_task_publish` catches real publishes."""
    from celery.app.task import Task
    from celery.signals import before_task_publish
    from kombu.serialization import dumps

    original = Task.apply_async

    def apply_async(self: Task, args: Any = None, kwargs: Any = None, *rest: Any, **options: Any) -> Any:
        payload = {"task": self.name, "args": list(args or ()), "kwargs": dict(kwargs or {}), "options": options}
        _ctype, _enc, body = dumps(json.loads(json.dumps(payload, default=repr)), serializer="json")
        recorder.add(Capture("task", f"{self.name} (apply_async)", str(body)))
        return original(self, args, kwargs, *rest, **options)

    def on_publish(sender: Any = None, body: Any = None, headers: Any = None, **_: Any) -> None:
        text = json.dumps({"body": body, "headers": headers}, default=repr)
        recorder.add(Capture("task", f"{sender} (published)", text))

    Task.apply_async = apply_async  # type: ignore[method-assign]
    before_task_publish.connect(on_publish, weak=False)
    try:
        yield
    finally:
        Task.apply_async = original  # type: ignore[method-assign]
        before_task_publish.disconnect(on_publish)


ASGIApp = Callable[[MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Any]


class UpstreamTap:
    """ASGI middleware in front of the Intervals.icu sandbox: records every request Threshold sends it.

    The Authorization header is recorded apart from the rest, since carrying the linked credential there
    is the one thing a request to Intervals.icu must do; so is the client secret in the token exchange.
    """

    def __init__(self, app: Any, recorder: Recorder | None = None) -> None:
        self.app = app
        self.recorder = recorder
        self.requests = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        recorder = self.recorder
        if scope["type"] != "http" or recorder is None:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def tapped_receive() -> Any:
            message = await receive()
            if message.get("type") == "http.request":
                chunks.append(message.get("body", b""))
            return message

        await self.app(scope, tapped_receive, send)
        self.requests += 1
        line = f"{scope['method']} {scope['path']}?{scope.get('query_string', b'').decode('latin-1')}"
        auth = [v.decode("latin-1") for k, v in scope["headers"] if k.lower() == b"authorization"]
        others = [f"{k.decode('latin-1')}: {v.decode('latin-1')}" for k, v in scope["headers"] if k != b"authorization"]
        body = b"".join(chunks).decode("utf-8", "replace")
        credentials = frozenset(c.value for c in recorder.canaries.values() if c.purpose in UPSTREAM_CREDENTIALS)
        recorder.add(Capture("upstream", f"{line} Authorization", "\n".join(auth), credentials, "upstream-credential"))
        secret_ok = (
            frozenset(c.value for c in recorder.canaries.values() if c.purpose == "client-secret")
            if scope["method"] == "POST" and scope["path"].endswith("/oauth/token")
            else frozenset()
        )
        recorder.add(Capture("upstream", line, "\n".join([line, *others, "", body]), secret_ok, "upstream-credential"))


# Canary purposes that are Intervals.icu credentials (may travel to Intervals.icu in Authorization).
UPSTREAM_CREDENTIALS = ("oauth-token", "coach-api-key")


def pg_dump() -> str:
    """The current Django database as plain SQL, as `pg_dump` writes a backup."""
    from django.db import connection

    conf = connection.settings_dict
    cmd = [
        "pg_dump",
        "--no-owner",
        "--no-privileges",
        "-h",
        str(conf.get("HOST") or "127.0.0.1"),
        "-p",
        str(conf.get("PORT") or 5432),
        "-U",
        str(conf.get("USER") or "postgres"),
        str(conf["NAME"]),
    ]
    env = {"PGPASSWORD": str(conf["PASSWORD"])} if conf.get("PASSWORD") else {}
    import os

    done = subprocess.run(cmd, capture_output=True, check=True, timeout=300, env={**os.environ, **env})
    return done.stdout.decode("utf-8", "replace")
