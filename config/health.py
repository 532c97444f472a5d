"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import logging
import os

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

logger = logging.getLogger(__name__)


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers."""
    return JsonResponse({"status": "ok"})


def draining() -> bool:
    """True once shutdown has begun (docker/serve.sh creates the file on SIGTERM): readiness answers 503
    so the load balancer stops sending, while the workers keep serving what still arrives."""
    return bool(settings.READINESS_DRAIN_FILE) and os.path.exists(settings.READINESS_DRAIN_FILE)


def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: not draining, and the database answers (Redis is optional: tools keep working without it)."""
    if draining():
        return JsonResponse({"status": "draining", "checks": {}}, status=503)
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:
        logger.warning("readiness: database unavailable (%s)", type(exc).__name__)
        checks["database"] = "unavailable"
    if settings.REDIS_URL:
        try:
            import redis

            redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5).ping()
            checks["redis"] = "ok"
        except Exception:
            checks["redis"] = "unavailable"
    status = 200 if checks["database"] == "ok" else 503
    return JsonResponse({"status": "ok" if status == 200 else "unavailable", "checks": checks}, status=status)
