"""The values of a few Redis keys, known in this process without asking Redis for as long as Redis's own
invalidation stream says they have not changed (server-assisted client-side caching, CLIENT TRACKING).

Why: a cached MCP tool call needs the auth epoch (mcpserver/principal_cache.py) and the athlete's cache
version (integrations/intervals/cache.py). Fetching them took one Redis round trip per call, the largest
part of Threshold's latency over a bare MCP server (bench/mcp_overhead: without it, 1.04x instead of 1.2x).
Both change rarely: on a write that changes access, and on a write to the athlete's calendar.

How it stays exact:
- one connection per process and Redis server speaks RESP3 and turns on `CLIENT TRACKING ON BCAST` for the
  registered key prefixes. From then on Redis pushes, down that connection, the name of every key under
  those prefixes that anything modifies, expires or evicts (and a null on FLUSHDB/FLUSHALL);
- a value is learnt only from a read sent after tracking began, and only if no invalidation of that key
  (nor a reconnection, nor a flush) arrived between the read being sent (`mark`) and the value being
  learnt (`learn`), which first takes in everything received;
- every lookup (`get`) first takes in whatever the connection has received: a non-blocking read of the
  socket buffer, a system call and no round trip;
- a process that modifies a tracked key makes one more round trip before it answers its own request
  (`barrier`). Redis writes every broadcast invalidation of one event-loop turn to the tracking
  connections before it sleeps, so by the time it answers a later command the invalidation is in every
  tracking process's socket buffer: a request that starts after the writer answered sees the change;
- the connection is pinged every second and nothing is served once the last answer is older than
  STALE_AFTER seconds: a silent, stalled or half-open connection stops being trusted within that time.
  A disconnect forgets everything; the connection is made again after REDIS_RETRY_AFTER_SECONDS.

Without Redis, with REDIS_TRACKING off, while the Redis circuit is open, or before the connection is up,
nothing is known (`get` answers MISSING) and callers make their round trip as before.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import ssl
import threading
import time
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings

from config import redis_guard

logger = logging.getLogger(__name__)

MISSING: Any = object()  # what `get` answers for a value this process does not know right now

PING_EVERY = 1.0
STALE_AFTER = 3.0
MAX_KEYS = 100_000  # remembered values (and recent invalidations); past it they are forgotten at once


class _Incomplete(Exception):
    """The buffer ends inside a message: wait for more bytes."""


class RespError(Exception):
    """Redis answered a command with an error."""


def _line(buf: bytearray, pos: int) -> tuple[bytes, int]:
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise _Incomplete
    return bytes(buf[pos:end]), end + 2


def parse(buf: bytearray, pos: int = 0) -> tuple[Any, bool, int]:
    """One RESP2/RESP3 message from `buf` at `pos`: (value, is_push, position after it).

    Raises _Incomplete when the buffer ends inside it. Errors come back as RespError values (not raised):
    they are answers like any other. Attributes (`|`) are skipped, as RESP3 allows.
    """
    if pos >= len(buf):
        raise _Incomplete
    kind = buf[pos : pos + 1]
    head, pos = _line(buf, pos + 1)
    if kind in (b"+",):
        return head, False, pos
    if kind == b"-":
        return RespError(head.decode("utf-8", "replace")), False, pos
    if kind in (b":", b"("):
        return int(head), False, pos
    if kind == b",":
        return float(head), False, pos
    if kind == b"#":
        return head == b"t", False, pos
    if kind == b"_":
        return None, False, pos
    if kind in (b"$", b"=", b"!"):
        size = int(head)
        if size < 0:
            return None, False, pos
        if len(buf) < pos + size + 2:
            raise _Incomplete
        data = bytes(buf[pos : pos + size])
        pos += size + 2
        if kind == b"!":
            return RespError(data.decode("utf-8", "replace")), False, pos
        return (data[4:] if kind == b"=" else data), False, pos
    if kind in (b"*", b"~", b">", b"%", b"|"):
        count = int(head)
        if count < 0:
            return None, False, pos
        items: list[Any] = []
        for _ in range(count * 2 if kind in (b"%", b"|") else count):
            item, _push, pos = parse(buf, pos)
            items.append(item)
        if kind == b"|":
            value, push, pos = parse(buf, pos)  # the attribute's reply follows it
            return value, push, pos
        if kind == b"%":
            return dict(zip(items[::2], items[1::2], strict=True)), False, pos
        return items, kind == b">", pos
    raise ValueError(f"unexpected RESP type {kind!r}")


def command(*parts: str | bytes | int) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        raw = part if isinstance(part, bytes) else str(part).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


def _open_socket(url: str, timeout: float) -> socket.socket:
    """A connected, authenticated-to-nothing-yet socket for a redis://, rediss:// or unix:// URL."""
    parts = urlsplit(url)
    sock: socket.socket
    if parts.scheme == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(parts.path)
        return sock
    sock = socket.create_connection((parts.hostname or "localhost", parts.port or 6379), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if parts.scheme == "rediss":
        sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname)
    return sock


class Tracker:
    """Tracked values for one Redis server, in one process. Thread-safe; `get` never blocks on I/O."""

    def __init__(self, url: str, prefixes: tuple[str, ...]) -> None:
        self.url = url
        self.prefixes = prefixes
        self.pid = os.getpid()
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._buf = bytearray()
        self._values: dict[str, bytes] = {}
        self._seq = 0  # moves on with every invalidation, flush and reconnection
        self._floor = 0  # marks below this are void (a flush, a reconnection, forgotten invalidations)
        self._invalidated: dict[str, int] = {}  # key -> the _seq of its last invalidation
        self._last_answer = 0.0
        self._ping_sent = 0.0
        self._retry_at = 0.0
        self._failing = False
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="redis-tracking", daemon=True)
        self._thread.start()

    # --- what callers use --------------------------------------------------------------------------

    def get(self, key: str) -> Any:
        """The value of `key` as last learnt, or MISSING when it is not known to be current now."""
        with self._lock:
            if not self._take_in():
                return MISSING
            return self._values.get(key, MISSING)

    def mark(self) -> int:
        """Call before sending a read whose answer you will `learn`; -1 while nothing can be learnt."""
        with self._lock:
            return self._seq if self._take_in() else -1

    def learn(self, key: str, value: object, mark: int) -> None:
        """Remember `value` (bytes, as read from Redis after `mark`) unless `key` may have changed since."""
        if mark < 0 or not isinstance(value, bytes) or not key.startswith(self.prefixes):
            return
        with self._lock:
            if not self._take_in() or mark < self._floor or self._invalidated.get(key, -1) > mark:
                return
            if len(self._values) >= MAX_KEYS:
                self._values.clear()
            self._values[key] = value

    def live(self) -> bool:
        with self._lock:
            return self._take_in()

    def close(self) -> None:
        self._stopped.set()
        with self._lock:
            self._drop()

    # --- the connection ----------------------------------------------------------------------------

    def _take_in(self) -> bool:
        """Under the lock: apply everything received so far; whether values may be served now."""
        sock = self._sock
        if sock is None:
            return False
        while True:
            try:
                data = sock.recv(65536)
            except (BlockingIOError, ssl.SSLWantReadError, InterruptedError):
                break
            except OSError as exc:
                self._lost(exc)
                return False
            if not data:
                self._lost(ConnectionError("closed by the server"))
                return False
            self._buf += data
            if len(data) < 65536:
                break
        pos = 0
        try:
            while True:
                try:
                    value, push, pos = parse(self._buf, pos)
                except _Incomplete:
                    break
                self._apply(value, push)
        except ValueError as exc:  # a byte stream we cannot follow: start again
            self._lost(exc)
            return False
        del self._buf[:pos]
        return self._sock is not None and time.monotonic() - self._last_answer < STALE_AFTER

    def _apply(self, value: Any, push: bool) -> None:
        if push and isinstance(value, list) and value and value[0] in (b"invalidate", "invalidate"):
            self._seq += 1
            keys = value[1] if len(value) > 1 else None
            if not isinstance(keys, list):  # FLUSHDB / FLUSHALL: everything
                self._values.clear()
                self._floor = self._seq
                return
            for raw in keys:
                key = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
                self._values.pop(key, None)
                self._invalidated[key] = self._seq
            if len(self._invalidated) > MAX_KEYS:
                self._invalidated.clear()
                self._floor = self._seq + 1  # forgotten invalidations: void every outstanding mark
            return
        if isinstance(value, RespError):
            self._lost(value)
            return
        self._last_answer = time.monotonic()  # PONG (or any other answer): the connection is alive

    def _lost(self, exc: BaseException) -> None:
        logger.warning("redis tracking: connection lost (%s); values are read from Redis until it is back", exc)
        self._drop()
        self._retry_at = time.monotonic() + float(settings.REDIS_RETRY_AFTER_SECONDS)

    def _drop(self) -> None:
        sock, self._sock = self._sock, None
        self._buf.clear()
        self._values.clear()
        self._seq += 1
        self._floor = self._seq
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def _connect(self) -> None:
        """Open, authenticate and turn tracking on (blocking, outside the lock), then install the socket."""
        parts = urlsplit(self.url)
        timeout = float(settings.REDIS_SOCKET_TIMEOUT)
        sock = _open_socket(self.url, timeout)
        try:
            hello: list[str | bytes | int] = ["HELLO", 3]
            if parts.password:
                hello += ["AUTH", unquote(parts.username or "default"), unquote(parts.password)]
            buf = bytearray()
            sock.sendall(command(*hello) + command("CLIENT", "TRACKING", "ON", "BCAST", *self._prefix_args()))
            answers: list[Any] = []
            while len(answers) < 2:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed during the handshake")
                buf += chunk
                pos = 0
                while True:
                    try:
                        value, push, pos = parse(buf, pos)
                    except _Incomplete:
                        break
                    if not push:
                        answers.append(value)
                del buf[:pos]
            for answer in answers:
                if isinstance(answer, RespError):
                    raise answer
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        with self._lock:
            self._drop()  # void every mark taken before tracking began
            if self._stopped.is_set():  # closed while connecting
                sock.close()
                return
            self._sock = sock
            self._buf = buf  # invalidations that already followed the handshake's answers
            self._last_answer = self._ping_sent = time.monotonic()

    def _prefix_args(self) -> list[str]:
        args: list[str] = []
        for prefix in self.prefixes:
            args += ["PREFIX", prefix]
        return args

    def _run(self) -> None:
        """The connection's own thread: connect, take in what arrives while no request does, ping."""
        while not self._stopped.is_set():
            sock = self._sock
            if sock is None:
                if time.monotonic() < self._retry_at or not redis_guard.circuit.available(self.url):
                    self._stopped.wait(0.2)
                    continue
                try:
                    self._connect()
                except RespError as exc:
                    logger.warning("redis tracking unavailable (%s); every value is read from Redis", exc)
                    self._retry_at = time.monotonic() + 300.0  # an old or restricted Redis: rarely retry
                except (OSError, ValueError) as exc:
                    if not self._failing:  # once per outage, not once per retry
                        logger.warning("redis tracking: cannot connect (%s); retrying", type(exc).__name__)
                    self._failing = True
                    self._retry_at = time.monotonic() + float(settings.REDIS_RETRY_AFTER_SECONDS)
                else:
                    self._failing = False
                continue
            try:
                select.select([sock], [], [], PING_EVERY / 4)
            except (OSError, ValueError):
                pass  # closed by another thread meanwhile
            with self._lock:
                if self._sock is not sock:
                    continue
                self._take_in()
                now = time.monotonic()
                if self._sock is not None and now - self._ping_sent >= PING_EVERY:
                    self._ping_sent = now
                    try:
                        self._sock.sendall(command("PING"))
                    except OSError as exc:
                        self._lost(exc)


_trackers: dict[str, Tracker] = {}
_prefixes: set[str] = set()
_lock = threading.Lock()


def enabled() -> bool:
    return bool(settings.REDIS_URL) and bool(settings.REDIS_TRACKING)


def tracker(prefix: str) -> Tracker | None:
    """This process's tracker for REDIS_URL, covering keys that start with `prefix`; None when values
    cannot be tracked now (tracking off, no Redis, Redis known to be down)."""
    url = settings.REDIS_URL
    if not enabled() or not redis_guard.circuit.available(url):
        return None
    found = _trackers.get(url)
    if found is not None and found.pid == os.getpid() and prefix in _prefixes:
        return found
    with _lock:
        if prefix not in _prefixes:
            _prefixes.add(prefix)
            stale = _trackers.pop(url, None)  # tracking is set up once per connection: start again
            if stale is not None:
                stale.close()
        found = _trackers.get(url)
        if found is None or found.pid != os.getpid():  # none yet, or inherited across a fork
            found = _trackers[url] = Tracker(url, tuple(sorted(_prefixes)))
        return found


def barrier(client: Any) -> None:
    """After modifying a tracked key through `client` (a sync redis.Redis): one more round trip, so the
    invalidation has reached every tracking process before this one answers (see the module docstring)."""
    if enabled():
        client.ping()


def reset() -> None:
    """Close every tracker (tests)."""
    with _lock:
        for found in _trackers.values():
            found.close()
        _trackers.clear()
