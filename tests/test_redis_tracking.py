"""Values kept in each process while Redis's invalidation stream vouches for them (config/redis_tracking.py),
and leased slots of the per-token limit (integrations/intervals/ratelimit.py): what lets a cached MCP
tool call skip its Redis round trip without ever serving a stale epoch or version, or admitting a call
past the limit.

"Another worker" is a second Redis client: what a different process would send.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from config import redis_guard, redis_tracking
from config.redis_tracking import MISSING, parse
from integrations.intervals.ratelimit import UpstreamLimiter


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def other(settings: Any) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def prefix() -> Iterator[str]:
    """Keys private to one test; the tracker starts from nothing and is closed afterwards."""
    redis_tracking.reset()
    yield f"thr:test:tracked:{uuid.uuid4().hex}:"
    redis_tracking.reset()


def live(prefix: str) -> redis_tracking.Tracker:
    tracker = redis_tracking.tracker(prefix)
    assert tracker is not None
    deadline = time.monotonic() + 5
    while not tracker.live():
        assert time.monotonic() < deadline, "tracking never came up"
        time.sleep(0.01)
    return tracker


def learn(tracker: redis_tracking.Tracker, client: redis.Redis, key: str) -> None:
    mark = tracker.mark()
    tracker.learn(key, client.get(key), mark)


def tracking_clients(client: redis.Redis) -> list[str]:
    return [c["id"] for c in client.client_list() if "t" in c.get("flags", "")]


def test_it_knows_a_value_until_another_worker_changes_it(other: redis.Redis, prefix: str) -> None:
    key = prefix + "epoch"
    other.set(key, b"41")
    tracker = live(prefix)
    assert tracker.get(key) is MISSING, "nothing is known before it was read"
    assert learn_until_known(tracker, other, key) == b"41"
    other.incr(key)  # another worker's write, as its commit hook makes it
    redis_tracking.barrier(other)
    assert tracker.get(key) is MISSING, "seen with the very next lookup, no waiting"
    assert learn_until_known(tracker, other, key) == b"42"


def test_it_never_learns_a_value_that_changed_while_it_was_being_read(other: redis.Redis, prefix: str) -> None:
    key = prefix + "version"
    other.set(key, b"7")
    tracker = live(prefix)
    mark = tracker.mark()
    read = other.get(key)
    other.incr(key)  # lands between the read and the learning
    tracker.learn(key, read, mark)
    assert tracker.get(key) is MISSING
    tracker.learn(prefix + "absent", None, tracker.mark())
    assert tracker.get(prefix + "absent") is MISSING, "a key that does not exist is not a value"
    tracker.learn("thr:elsewhere", b"1", tracker.mark())
    assert tracker.get("thr:elsewhere") is MISSING, "only keys under a tracked prefix"


def test_it_forgets_everything_on_a_flush_and_on_a_lost_connection(
    other: redis.Redis, prefix: str, settings: Any
) -> None:
    settings.REDIS_RETRY_AFTER_SECONDS = 0.2
    key = prefix + "epoch"
    other.set(key, b"5")
    tracker = live(prefix)
    assert learn_until_known(tracker, other, key) == b"5"
    other.flushdb()
    redis_tracking.barrier(other)  # a flush is announced with its own reply, not before it: one round trip
    assert tracker.get(key) is MISSING
    other.set(key, b"6")
    assert learn_until_known(tracker, other, key) == b"6"
    for client_id in tracking_clients(other):  # Redis restarted, or a proxy dropped the connection
        other.client_kill_filter(_id=client_id)
    assert tracker.get(key) is MISSING
    live(prefix)  # connected again after REDIS_RETRY_AFTER_SECONDS
    assert tracker.get(key) is MISSING, "nothing learnt before the loss is served after it"
    assert learn_until_known(tracker, other, key) == b"6"


def test_it_stops_trusting_a_connection_that_stopped_answering(
    other: redis.Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_tracking, "PING_EVERY", 0.1)
    monkeypatch.setattr(redis_tracking, "STALE_AFTER", 0.8)
    key = prefix + "epoch"
    other.set(key, b"9")
    tracker = live(prefix)
    learn_until_known(tracker, other, key)
    other.execute_command("CLIENT", "PAUSE", 2500, "ALL")  # a stalled server: pings go unanswered
    time.sleep(1.6)
    assert tracker.get(key) is MISSING, "a silent connection vouches for nothing"
    live(prefix)  # the pause is over and a PONG came back
    assert learn_until_known(tracker, other, key) == b"9"


def learn_until_known(tracker: redis_tracking.Tracker, client: redis.Redis, key: str) -> Any:
    """Learn `key`, again if a heartbeat was late on a loaded machine (nothing is learnt meanwhile)."""
    deadline = time.monotonic() + 5
    while (value := tracker.get(key)) is MISSING and time.monotonic() < deadline:
        learn(tracker, client, key)
    return value


def test_it_tracks_nothing_when_off_or_while_redis_is_down(prefix: str, settings: Any) -> None:
    settings.REDIS_TRACKING = False
    assert redis_tracking.tracker(prefix) is None
    settings.REDIS_TRACKING = True
    redis_guard.circuit.trip(settings.REDIS_URL, ConnectionError("test"), who="test")
    assert redis_tracking.tracker(prefix) is None


def test_it_authenticates_and_gives_up_quietly_where_tracking_is_refused(
    other: redis.Redis, prefix: str, settings: Any
) -> None:
    """A Redis user allowed everything but CLIENT (a restricted managed Redis): no tracking, no errors."""
    user, password = f"thr-test-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    allowed = f"thr-test-{uuid.uuid4().hex[:8]}"
    other.acl_setuser(user, enabled=True, passwords=[f"+{password}"], keys=["*"], commands=["+@all", "-client"])
    other.acl_setuser(allowed, enabled=True, passwords=[f"+{password}"], keys=["*"], commands=["+@all"])
    base = settings.REDIS_URL.replace("redis://", "")
    try:
        settings.REDIS_URL = f"redis://{user}:{password}@{base}"
        refused = redis_tracking.tracker(prefix)
        assert refused is not None
        time.sleep(0.3)
        assert not refused.live() and refused.get(prefix + "x") is MISSING
        settings.REDIS_URL = f"redis://{allowed}:{password}@{base}"
        key = prefix + "epoch"
        other.set(key, b"3")
        tracker = live(prefix)
        assert learn_until_known(tracker, other, key) == b"3", "a password in the URL is used"
    finally:
        other.acl_deluser(user, allowed)


def test_it_reads_every_kind_of_resp_message_and_waits_for_the_rest_of_one() -> None:
    push = b">2\r\n$10\r\ninvalidate\r\n*2\r\n$3\r\nk:1\r\n$3\r\nk:2\r\n"
    assert parse(bytearray(push)) == ([b"invalidate", [b"k:1", b"k:2"]], True, len(push))
    flush = b">2\r\n$10\r\ninvalidate\r\n_\r\n"
    assert parse(bytearray(flush))[:2] == ([b"invalidate", None], True)
    hello = b"%2\r\n+server\r\n+redis\r\n+proto\r\n:3\r\n"
    assert parse(bytearray(hello))[0] == {b"server": b"redis", b"proto": 3}
    assert parse(bytearray(b"|1\r\n+a\r\n+b\r\n+PONG\r\n"))[0] == b"PONG", "attributes are skipped"
    assert parse(bytearray(b"=8\r\ntxt:done\r\n#t\r\n,1.5\r\n"))[0] == b"done"
    assert str(parse(bytearray(b"-ERR no\r\n"))[0]) == "ERR no"
    for cut in range(1, len(push)):
        with pytest.raises(redis_tracking._Incomplete):
            parse(bytearray(push[:cut]))


# --- leased slots of the per-token limit ------------------------------------------------------------------


@pytest.mark.anyio
async def test_it_never_admits_more_than_the_limit_across_workers_holding_leases(settings: Any) -> None:
    """Two workers (two limiter instances) calling one token as fast as they can: leases cut the round
    trips, and the deployment admits exactly the burst, never more."""
    bucket = f"thr:test:lease:{uuid.uuid4().hex}"
    workers = [UpstreamLimiter(1 / 60, 40, settings.REDIS_URL, key=bucket) for _ in range(2)]
    admitted = round_trips = 0
    for i in range(200):
        worker = workers[i % 2]
        if worker.take_leased(bucket):
            admitted += 1
            continue
        round_trips += 1
        wait, _ = await worker.reserve_reading(0, key=bucket, lease=True)
        if wait < 0:
            break
        admitted += 1
    held = sum(w._leases[bucket].left for w in workers)
    assert admitted + held == 40, "leased slots are reserved in Redis like any other: never more than the limit"
    assert held <= 4, "leases are only taken while the bucket is at least half full"
    assert round_trips < admitted * 0.8, "busy workers take a few slots per round trip"


@pytest.mark.anyio
async def test_it_leases_nothing_while_a_token_is_near_its_limit(settings: Any) -> None:
    bucket = f"thr:test:lease:{uuid.uuid4().hex}"
    limiter = UpstreamLimiter(1 / 60, 6, settings.REDIS_URL, key=bucket)
    outcomes = []
    for _ in range(8):
        if limiter.take_leased(bucket):
            outcomes.append("leased")
            continue
        wait, _ = await limiter.reserve_reading(0, key=bucket, lease=True)
        outcomes.append("ok" if wait >= 0 else "refused")
    assert outcomes.count("refused") == 2, outcomes
    assert outcomes[:6].count("leased") <= 2, "only the first half of the burst is ever leased"
