"""The load proof's fast part (bench/load.py): a short burst on the production shape, and how it measures."""

from __future__ import annotations

import base64

import pytest
from django.conf import settings as dj_settings

from bench import load
from bench._support import bench_env

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_counts_parallel_upstream_requests_once_and_only_inside_the_call() -> None:
    # Mara's call runs from t=10 to t=11; her assistant's tool fetched two things at once, then one more,
    # and an earlier call's request ended just before hers began.
    spans = [
        load.Span("i100001", 9.0, 9.9, 200),
        load.Span("i100001", 10.1, 10.3, 200),
        load.Span("i100001", 10.2, 10.4, 200),
        load.Span("i100001", 10.5, 10.6, 200),
    ]
    seconds, count = load.upstream_seconds((10.0, 11.0), spans, [s.start for s in spans])
    assert count == 3
    assert seconds == pytest.approx(0.3 + 0.1)


def test_it_clips_an_upstream_request_that_outlives_the_call_window() -> None:
    spans = [load.Span("i100002", 10.8, 12.0, 200)]
    seconds, count = load.upstream_seconds((10.0, 11.0), spans, [10.8])
    assert (count, seconds) == (1, pytest.approx(0.2))


def worker_env() -> dict[str, str]:
    """The workers reach this test's database and Redis with its key material, in production mode: DEBUG
    off, no test mode (so the shared read cache is on), and this run's cache prefix, which the session
    clean-up sweeps."""
    key_id, key = dj_settings.ENCRYPTION_KEYS[0]
    db = dj_settings.DATABASES["default"]
    env = bench_env(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        REDIS_URL=dj_settings.REDIS_URL,
        ENCRYPTION_KEYS=f"{key_id}:{base64.urlsafe_b64encode(key).decode()}",
        THRESHOLD_TESTING="0",
        CACHE_KEY_PREFIX=str(dj_settings.CACHES["default"]["KEY_PREFIX"]),
    )
    return {k: v for k, v in env.items() if not k.startswith("PYTEST_")}


def test_it_serves_ten_clients_on_two_workers_without_a_5xx_or_a_session_beyond_the_pools() -> None:
    clients, coaches, workers, pool_max = 10, 2, 2, 5
    extra = load.athletes_needed(clients, coaches) - 3  # beyond Mara, Diego and Aroha
    sandbox, sandbox_url = load.start_timed_sandbox(latency_ms=100, extra_athletes=extra)
    try:
        specs = load.make_clients(sandbox_url, clients, coaches)
        db = dj_settings.DATABASES["default"]
        report = load.run_load(
            env=worker_env(),
            database_url=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            sandbox_url=sandbox_url,
            specs=specs,
            seconds=10,
            workers=workers,
            pool_max=pool_max,
            warmup=2,
            latency_ms=100,
            sandbox_pid=sandbox.pid,
        )
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=20)
    load.print_report(report)  # shown with -s, and on failure

    assert report.calls >= 50, "ten clients for ten seconds make far more calls than this"
    assert report.server_errors == 0
    assert report.outcomes == {"ok": report.calls}
    assert report.workers_alive and len(report.rss) == workers
    assert report.max_worker_sessions <= workers * pool_max
    assert report.max_sessions <= report.session_bound
    # The measurement saw real upstream time (100 ms per request) and a mix of fresh and cached reads.
    assert report.upstream_ms_p["p95"] >= 100
    assert 0 < report.no_upstream_share < 1
