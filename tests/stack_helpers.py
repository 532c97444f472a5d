"""The production shape for tests that start the product in its own processes."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from django.conf import settings as dj_settings

ROOT = Path(__file__).resolve().parent.parent


def production_env(**extra: str) -> dict[str, str]:
    key_id, key = dj_settings.ENCRYPTION_KEYS[0]
    db = dj_settings.DATABASES["default"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    env.update(
        {
            "DEBUG": "0",
            "SECRET_KEY": "a-production-secret-that-is-long-enough-for-tests",
            # The same key material the test process encrypted with, so workers can read the rows.
            "ENCRYPTION_KEYS": f"{key_id}:{base64.urlsafe_b64encode(key).decode()}",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "REDIS_URL": dj_settings.REDIS_URL,
            "INTERVALS_CLIENT_ID": "threshold-test",
            "INTERVALS_CLIENT_SECRET": "threshold-test-secret",
            "SECURE_SSL_REDIRECT": "0",
            "DB_POOL_MAX_SIZE": "4",
        }
    )
    env.update(extra)
    return env
