"""Helpers for the trouble tests: a private redis-server, a Redis that fails on demand, a mail server that
can stall, and the product's web and Celery processes in the production shape.

`FlakyProxy` is a TCP proxy (in front of the private redis-server, or of PostgreSQL) whose mode the test
switches at run time:
- "up": bytes pass both ways;
- "refused": nothing listens on the port (connection refused) and open connections are dropped;
- "blackhole": connections are accepted and read, and nothing is ever answered;
- "stall": commands reach Redis, but only the first byte of each reply comes back, then nothing.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest
import redis
from django.conf import settings as dj_settings

from tests.conftest import free_port
from tests.stack_helpers import ROOT, production_env


@pytest.fixture(scope="session")
def private_redis() -> Iterator[int]:
    """A redis-server of our own (no persistence): these tests flush it and point workers at it."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, socket_timeout=1)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("private redis-server did not start") from None
            time.sleep(0.05)
    yield port
    proc.terminate()
    proc.wait(timeout=10)


class FlakyProxy:
    """A proxy to 127.0.0.1:`upstream_port` that can refuse, black-hole or stall (see the module docstring)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.port = free_port()
        self.mode = "up"
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._listen()

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def postgres_url(self) -> str:
        """The test database, reached through this proxy (which must front PostgreSQL's port)."""
        db = dj_settings.DATABASES["default"]
        return f"postgres://{db['USER']}@127.0.0.1:{self.port}/{db['NAME']}"

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _track(self, *socks: socket.socket | None) -> None:
        with self._lock:
            self._sockets.update(s for s in socks if s is not None)

    def _close(self, *socks: socket.socket | None) -> None:
        for s in socks:
            if s is not None:
                with self._lock:
                    self._sockets.discard(s)
                try:
                    s.close()
                except OSError:
                    pass

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed ("refused")
            upstream = None
            if self.mode in ("up", "stall"):
                try:
                    upstream = socket.create_connection(self.upstream, timeout=5)
                    upstream.settimeout(None)
                except OSError:
                    client.close()
                    continue
            self._track(client, upstream)
            threading.Thread(target=self._requests, args=(client, upstream), daemon=True).start()
            if upstream is not None:
                threading.Thread(target=self._replies, args=(upstream, client), daemon=True).start()

    def _requests(self, client: socket.socket, upstream: socket.socket | None) -> None:
        try:
            while data := client.recv(65536):
                if self.mode == "blackhole":
                    continue  # swallowed: never reaches Redis, never answered
                if upstream is None:
                    break  # accepted during a black hole: make the client reconnect
                upstream.sendall(data)
        except OSError:
            pass
        finally:
            self._close(client, upstream)

    def _replies(self, upstream: socket.socket, client: socket.socket) -> None:
        stalled = False
        try:
            while data := upstream.recv(65536):
                if stalled or self.mode == "blackhole":
                    continue
                if self.mode == "stall":
                    client.sendall(data[:1])  # a reply cut short: the client waits for the rest forever
                    stalled = True
                    continue
                client.sendall(data)
        except OSError:
            pass
        finally:
            self._close(client, upstream)

    def set_mode(self, mode: str) -> None:
        assert mode in ("up", "refused", "blackhole", "stall"), mode
        if mode == "refused":
            listener, self._listener = self._listener, None
            if listener is not None:
                try:
                    listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() thread; close() alone does not
                except OSError:
                    pass
            self._close(listener)
            with self._lock:
                open_sockets = list(self._sockets)
            self._close(*open_sockets)
        elif self._listener is None:
            self._listen()
        self.mode = mode

    def close(self) -> None:
        self.set_mode("refused")


class SmtpSink:
    """A minimal SMTP server that counts the messages it accepted (answered 250 after DATA). The first
    `stall_first` messages are received in full and then never answered: the sender is stuck mid-send."""

    def __init__(self, stall_first: int = 0) -> None:
        self.port = free_port()
        self.stall_first = stall_first
        self.delivered: list[bytes] = []
        self.data_received = 0
        self.stalled = threading.Event()
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        reader: IO[bytes] = conn.makefile("rb")
        try:
            conn.sendall(b"220 sink ESMTP\r\n")
            while line := reader.readline():
                verb = line[:4].upper()
                if verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                if verb != b"DATA":
                    conn.sendall(b"250 ok\r\n")
                    continue
                conn.sendall(b"354 go ahead\r\n")
                body = b""
                while (chunk := reader.readline()) and chunk != b".\r\n":
                    body += chunk
                with self._lock:
                    self.data_received += 1
                    stall = self.data_received <= self.stall_first
                if stall:
                    self.stalled.set()
                    self._release.wait()  # never answer: the sender's transaction is still open
                    return
                with self._lock:
                    self.delivered.append(body)
                conn.sendall(b"250 queued\r\n")
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._release.set()
        self._listener.close()


def stack_env(**extra: str) -> dict[str, str]:
    """The production shape (DEBUG off) on the test database, with Celery really publishing."""
    return production_env(
        **{
            "THRESHOLD_TESTING": "0",
            "SITE_URL": "https://127.0.0.1",
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_USE_TLS": "0",
            "LOG_LEVEL": "WARNING",
            **extra,
        }
    )


def subscription_event(event_id: str, subscription_id: str, customer_id: str, user_id: int) -> dict[str, object]:
    """A Stripe `customer.subscription.created` event for an active monthly subscription of `user_id`."""
    now = int(time.time())
    subscription = {
        "id": subscription_id,
        "object": "subscription",
        "customer": customer_id,
        "status": "active",
        "cancel_at_period_end": False,
        "canceled_at": None,
        "trial_end": None,
        "current_period_end": now + 30 * 86400,
        "metadata": {"user_id": str(user_id)},
        "items": {"object": "list", "data": [{"id": f"si_{subscription_id}", "current_period_end": now + 30 * 86400}]},
    }
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2025-08-27.basil",
        "created": now,
        "livemode": False,
        "type": "customer.subscription.created",
        "data": {"object": subscription},
    }


class Proc:
    """A child process whose output goes to a file (an undrained pipe would stall it)."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str]) -> None:
        self.log_path = Path(tempfile.mkstemp(prefix=f"threshold-{name}-", suffix=".log")[1])
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, nothing is acknowledged or given back."""
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


_STATIC_ROOT = tempfile.mkdtemp(prefix="threshold-static-")


def collected_static() -> str:
    """DEBUG off serves hashed static files from a manifest: collect them once per run, outside the tree."""
    if not (Path(_STATIC_ROOT) / "staticfiles.json").exists():
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=stack_env(STATIC_ROOT=_STATIC_ROOT, REDIS_URL="redis://127.0.0.1:1/0"),
            check=True,
            timeout=120,
        )
    return _STATIC_ROOT


def start_web(env: dict[str, str], port: int) -> Proc:
    env = {**env, "STATIC_ROOT": collected_static()}
    proc = Proc(
        "web",
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port)],
        env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or proc.popen.poll() is not None:
            proc.stop()
            raise RuntimeError("web did not start:\n" + proc.log())
        time.sleep(0.2)


def start_worker(env: dict[str, str], name: str) -> Proc:
    """One Celery worker, solo pool: it runs a task in its main process, so SIGKILL is a kill mid-task."""
    cmd = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--loglevel=INFO"]
    cmd += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"{name}@%h"]
    return Proc(f"worker-{name}", cmd, env)


def wait_for(predicate: object, timeout: float, what: str, proc: Proc | None = None) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}" + ("\n" + proc.log() if proc else ""))
        time.sleep(0.1)
