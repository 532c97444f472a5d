"""Threshold settings: one flat file, configured only through the environment.

DEBUG unset (or empty) means off: production behaviour, and start-up refuses to proceed while a required
secret is missing. The embedded default (`make run`, which sets DEBUG=1 and nothing else) is a complete
development setup: SQLite, Celery tasks run eagerly, email printed to the console, the Intervals.icu
sandbox mounted in-process, billing off, public development secrets.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url

from config.env import MissingSetting, env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("THRESHOLD_VAR_DIR", str(BASE_DIR / "var")))

# Off unless asked for: DEBUG on brings the public development secrets and the open sandbox endpoints.
DEBUG = env_bool("DEBUG", default=False)
TESTING = "pytest" in sys.modules or env_bool("THRESHOLD_TESTING")

_DEV_SECRET = "dev-insecure-secret-key-do-not-use-in-production"  # noqa: S105 - embedded default only
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET if DEBUG else "")

SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# Shutdown: docker/serve.sh creates this file on SIGTERM; /readyz then answers 503 while the workers drain.
READINESS_DRAIN_FILE = env_str("READINESS_DRAIN_FILE", "")
SITE_NAME = "Threshold"
_site = urlsplit(SITE_URL)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [_site.hostname or "127.0.0.1", "127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [f"{_site.scheme}://{_site.netloc}"])

# --- Secrets that production must provide -----------------------------------------------------------
# ENCRYPTION_KEYS: comma-separated "key_id:base64(32 bytes)"; the first encrypts, all decrypt (rotation).
_encryption_keys_raw = env_str("ENCRYPTION_KEYS")
if not _encryption_keys_raw and DEBUG:
    # Derived from the dev secret so the embedded default works with zero configuration.
    _dev_key = base64.urlsafe_b64encode(hashlib.sha256(b"threshold-dev-encryption:" + SECRET_KEY.encode()).digest())
    _encryption_keys_raw = "dev:" + _dev_key.decode()
ENCRYPTION_KEYS: list[tuple[str, bytes]] = []
for _part in filter(None, (p.strip() for p in _encryption_keys_raw.split(","))):
    _kid, _, _b64 = _part.partition(":")
    _key = base64.urlsafe_b64decode(_b64 + "=" * (-len(_b64) % 4))
    if len(_key) != 32:
        raise MissingSetting(f"ENCRYPTION_KEYS entry {_kid!r} must decode to 32 bytes")
    ENCRYPTION_KEYS.append((_kid, _key))

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'threshold.sqlite3'}")
if DATABASE_URL.startswith("sqlite"):
    VAR_DIR.mkdir(parents=True, exist_ok=True)  # the embedded default keeps its files here
REDIS_URL = env_str("REDIS_URL", "")
# Holding up while Redis is down or black-holed (config/redis_guard.py): every Redis client connects and
# reads with this timeout (Redis answers in well under a millisecond on a healthy network), and after a
# failure each process skips Redis for REDIS_RETRY_AFTER_SECONDS, so an outage costs one timeout per
# period instead of one per request. While skipped, each user of Redis fails in its documented direction:
#   upstream Intervals.icu limiter   open, to a per-process bucket at the same rate (N processes: N x rate)
#   per-token MCP call limit         open, to a per-process bucket per token
#   allauth login/signup limits      open, to per-process counters (the cache's LocMem fallback)
#   /token/ page (sends email)       closed: 503 "briefly unavailable"
#   Intervals.icu read cache         bypassed: reads go upstream; invalidations are replayed on recovery
#   Celery publishing                skipped: the email/webhook row is in PostgreSQL, the sweep re-queues it
REDIS_SOCKET_TIMEOUT = env_float("REDIS_SOCKET_TIMEOUT", 0.5)
REDIS_RETRY_AFTER_SECONDS = env_float("REDIS_RETRY_AFTER_SECONDS", 5.0)
# Keep the few Redis values every MCP call needs (the auth epoch, athletes' cache versions) in each process,
# invalidated by Redis itself (CLIENT TRACKING, config/redis_tracking.py). Off: one round trip per call.
REDIS_TRACKING = env_bool("REDIS_TRACKING", default=True)

# --- Intervals.icu ----------------------------------------------------------------------------------
SANDBOX_ENABLED = env_bool("INTERVALS_SANDBOX", default=DEBUG)
INTERVALS_BASE_URL = env_str(
    "INTERVALS_BASE_URL", f"{SITE_URL}/sandbox/intervals" if SANDBOX_ENABLED else "https://intervals.icu"
).rstrip("/")
INTERVALS_CLIENT_ID = env_str("INTERVALS_CLIENT_ID", "threshold-dev" if DEBUG else "")
INTERVALS_CLIENT_SECRET = env_str("INTERVALS_CLIENT_SECRET", "threshold-dev-secret" if DEBUG else "")
SANDBOX_STATE_FILE = env_str("INTERVALS_SANDBOX_STATE_FILE", str(VAR_DIR / "sandbox-state.json"))
# What we ask for at connect time; the athlete may untick any of these upstream.
INTERVALS_SCOPES = env_list(
    "INTERVALS_SCOPES",
    ["ACTIVITY:WRITE", "WELLNESS:WRITE", "CALENDAR:WRITE", "LIBRARY:WRITE", "SETTINGS:READ", "CHATS:WRITE"],
)
INTERVALS_TIMEOUT_SECONDS = env_float("INTERVALS_TIMEOUT_SECONDS", 10.0)
INTERVALS_DEADLINE_SECONDS = env_float("INTERVALS_DEADLINE_SECONDS", 25.0)
INTERVALS_MAX_ATTEMPTS = env_int("INTERVALS_MAX_ATTEMPTS", 4)
# The upstream allows about 10 requests/s per IP with a short burst, shared by the whole deployment.
INTERVALS_RATE_PER_SECOND = env_float("INTERVALS_RATE_PER_SECOND", 10.0)
INTERVALS_RATE_BURST = env_int("INTERVALS_RATE_BURST", 5)
# Each athlete's own share of that budget (fairness: integrations/intervals/ratelimit.acquire_upstream); 0 = off.
INTERVALS_ATHLETE_RATE_PER_SECOND = env_float("INTERVALS_ATHLETE_RATE_PER_SECOND", 4.0)
INTERVALS_ATHLETE_BURST = env_int("INTERVALS_ATHLETE_BURST", 4)
INTERVALS_OAUTH_STATE_MAX_AGE = env_int("INTERVALS_OAUTH_STATE_MAX_AGE", 600)
# Circuit breaker: after this many failed requests in a row, fail fast for the cooldown, then probe.
INTERVALS_BREAKER_FAILURES = env_int("INTERVALS_BREAKER_FAILURES", 5)
INTERVALS_BREAKER_COOLDOWN_SECONDS = env_float("INTERVALS_BREAKER_COOLDOWN_SECONDS", 30.0)
# Shared read cache (per athlete and date range, across tokens). Off in tests, which share one sandbox
# whose state they change directly; cache tests turn it on.
INTERVALS_CACHE_SECONDS = env_int("INTERVALS_CACHE_SECONDS", 0 if TESTING else 300)

# --- MCP ----------------------------------------------------------------------------------------------
MCP_TOKEN_PREFIX = "thr_"  # noqa: S105 - a prefix, not a secret
MCP_MAX_BODY_BYTES = env_int("MCP_MAX_BODY_BYTES", 1024 * 1024)
MCP_ALLOWED_ORIGINS = env_list(
    "MCP_ALLOWED_ORIGINS",
    [f"{_site.scheme}://{_site.netloc}", "https://claude.ai", "https://chatgpt.com"],
)
MCP_HISTORY_MAX_DAYS = env_int("MCP_HISTORY_MAX_DAYS", 366)
# A tool call's time budget (mcpserver.catalogue.run_tool): past it, a read is stopped and a write left to
# finish, with a clear "took too long" answer. Roster-wide coach tools fan out over the roster: their own.
MCP_TOOL_TIME_BUDGET_SECONDS = env_float("MCP_TOOL_TIME_BUDGET_SECONDS", 8.0)
MCP_ROSTER_TIME_BUDGET_SECONDS = env_float("MCP_ROSTER_TIME_BUDGET_SECONDS", 30.0)
# Per-token tool-call limit (shared across workers through Redis; per process if Redis is down).
MCP_TOKEN_CALLS_PER_MINUTE = env_int("MCP_TOKEN_CALLS_PER_MINUTE", 120)
MCP_TOKEN_BURST = env_int("MCP_TOKEN_BURST", 30)
# Read calls' access-log rows are written in batches this often (0: one write after each answer). A
# worker killed outright loses at most this much of the read log; writes are always journaled at once.
MCP_READ_LOG_FLUSH_SECONDS = env_float("MCP_READ_LOG_FLUSH_SECONDS", 0.2)
# Principals kept in memory between requests (mcpserver/principal_cache.py), at most this long, invalidated
# through Redis by every committed write that changes access; 0 (or no Redis) loads one per request.
MCP_PRINCIPAL_CACHE_SECONDS = env_float("MCP_PRINCIPAL_CACHE_SECONDS", 60.0)
MCP_PRINCIPAL_CACHE_SIZE = env_int("MCP_PRINCIPAL_CACHE_SIZE", 10_000)

# --- Billing (Stripe) ---------------------------------------------------------------------------------
# Off in the embedded default: everyone is active. accounts/billing.py is the only reader of these.
BILLING_ENABLED = env_bool("BILLING_ENABLED", default=False)
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY")
# The embedded default signs its fake Stripe's webhooks with a fixed development secret.
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET", "whsec_threshold_dev" if DEBUG else "")
STRIPE_LIVEMODE = env_bool("STRIPE_LIVEMODE", default=False)
STRIPE_WEBHOOK_TOLERANCE_SECONDS = env_int("STRIPE_WEBHOOK_TOLERANCE_SECONDS", 300)
STRIPE_PRICE_ATHLETE_MONTHLY = env_str("STRIPE_PRICE_ATHLETE_MONTHLY", "price_athlete_monthly" if DEBUG else "")
STRIPE_PRICE_ATHLETE_YEARLY = env_str("STRIPE_PRICE_ATHLETE_YEARLY", "price_athlete_yearly" if DEBUG else "")
STRIPE_PRICE_COACH = env_str("STRIPE_PRICE_COACH", "price_coach_monthly" if DEBUG else "")
# "stripe" talks to api.stripe.com; "fake" is the in-process stand-in (Checkout and Portal pages included).
STRIPE_GATEWAY = env_str("STRIPE_GATEWAY", "stripe" if STRIPE_SECRET_KEY else "fake")
TRIAL_DAYS = env_int("TRIAL_DAYS", 14)
GRACE_DAYS = env_int("GRACE_DAYS", 7)

# --- Public token page (/token/) ----------------------------------------------------------------------
TOKEN_LINK_MAX_AGE_SECONDS = env_int("TOKEN_LINK_MAX_AGE_SECONDS", 3600)
TOKEN_PAGE_LIMIT_PER_ADDRESS = env_int("TOKEN_PAGE_LIMIT_PER_ADDRESS", 3)
TOKEN_PAGE_LIMIT_PER_IP = env_int("TOKEN_PAGE_LIMIT_PER_IP", 20)
TOKEN_PAGE_LIMIT_WINDOW_SECONDS = env_int("TOKEN_PAGE_LIMIT_WINDOW_SECONDS", 3600)

# --- The admin login (accounts/admin.py): every attempt counts, per client IP and per address -------------
ADMIN_LOGIN_LIMIT_PER_ADDRESS = env_int("ADMIN_LOGIN_LIMIT_PER_ADDRESS", 5)
ADMIN_LOGIN_LIMIT_PER_IP = env_int("ADMIN_LOGIN_LIMIT_PER_IP", 20)
ADMIN_LOGIN_LIMIT_WINDOW_SECONDS = env_int("ADMIN_LOGIN_LIMIT_WINDOW_SECONDS", 300)

# --- Outbox: emails and webhook events recorded but not yet handled are queued again after this --------
OUTBOX_REQUEUE_AFTER_SECONDS = env_int("OUTBOX_REQUEUE_AFTER_SECONDS", 120)
EMAIL_MAX_ATTEMPTS = env_int("EMAIL_MAX_ATTEMPTS", 8)

# --- Refuse to start in production without the secrets ------------------------------------------------
if not DEBUG:
    _required = {
        "SECRET_KEY": SECRET_KEY,
        "ENCRYPTION_KEYS": ENCRYPTION_KEYS,
        "DATABASE_URL": env_str("DATABASE_URL"),
        "REDIS_URL": REDIS_URL,
        "INTERVALS_CLIENT_ID": INTERVALS_CLIENT_ID,
        "INTERVALS_CLIENT_SECRET": INTERVALS_CLIENT_SECRET,
        "SITE_URL": env_str("SITE_URL"),
    }
    _missing = sorted(name for name, value in _required.items() if not value)
    if _missing:
        raise MissingSetting("Refusing to start with DEBUG off; missing: " + ", ".join(_missing))
    if SECRET_KEY == _DEV_SECRET:
        raise MissingSetting("Refusing to start with DEBUG off and the development SECRET_KEY")
    if BILLING_ENABLED:
        _billing_required = {
            "STRIPE_SECRET_KEY": STRIPE_SECRET_KEY,
            "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
            "STRIPE_PRICE_ATHLETE_MONTHLY": STRIPE_PRICE_ATHLETE_MONTHLY,
            "STRIPE_PRICE_ATHLETE_YEARLY": STRIPE_PRICE_ATHLETE_YEARLY,
            "STRIPE_PRICE_COACH": STRIPE_PRICE_COACH,
        }
        _missing = sorted(name for name, value in _billing_required.items() if not value)
        if _missing:
            raise MissingSetting("Refusing to start with BILLING_ENABLED on; missing: " + ", ".join(_missing))
        if STRIPE_GATEWAY != "stripe":
            raise MissingSetting("Refusing to start with BILLING_ENABLED on and the fake Stripe gateway")

# --- Django -----------------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "rest_framework",
    "accounts",
    "coaching",
    "integrations.intervals",
    "integrations.stripe",
    "mcpserver",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "config.middleware.SecurityHeadersMiddleware",
    "config.middleware.NotFoundPageMiddleware",
    "config.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
AUTH_USER_MODEL = "accounts.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.context_processors.site",
                "accounts.nav.nav",
            ],
        },
    }
]

# Health checks: a pooled connection is checked (an empty query) before it is handed out, so after a
# database outage no request gets a connection that died during it.
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0, conn_health_checks=True)}
DB_PREPARED_STATEMENTS = env_bool("DB_PREPARED_STATEMENTS", True)
if TESTING:
    # One test database per run, so concurrent runs on one machine never drop each other's database.
    DATABASES["default"]["TEST"] = {"NAME": f"test_threshold_{os.getpid()}"}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Pooled by default: under ASGI, Django would otherwise open a new connection for every request.
    _pool_max = env_int("DB_POOL_MAX_SIZE", 10)
    DATABASES["default"]["OPTIONS"] = {}
    if _pool_max > 0:
        # Bounded waits: an exhausted pool fails within seconds instead of stalling requests.
        # 1.5 s: a request that cannot get a connection answers 503 inside the 2 s error budget.
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": 1,
            "max_size": _pool_max,
            "timeout": env_float("DB_POOL_TIMEOUT", 1.5),
        }
        # psycopg_pool retries a lost connection with a doubling delay (1, 2, 4, 8, 16 s): measured, calls
        # kept failing for 10 s after PostgreSQL came back. A failed connect to a down server is cheap,
        # so retry at a steady 0.5 s and the pool follows the database back within a second.
        from psycopg_pool.base import AttemptWithBackoff

        AttemptWithBackoff.INITIAL_DELAY = 0.5
        AttemptWithBackoff.DELAY_BACKOFF = 1.0
    # Server-side prepared statements for the few hot queries that ask for them (the MCP token lookup:
    # prepared, its 4-table join costs 0.13 ms instead of 0.47 ms, planning skipped). Django's own
    # queries bind client-side and never prepare. Off for a connection pooler that cannot carry
    # prepared statements (PgBouncer in transaction mode before 1.21): DB_PREPARED_STATEMENTS=0.
    if DB_PREPARED_STATEMENTS:
        DATABASES["default"]["OPTIONS"]["prepare_threshold"] = 0
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several threads serve MCP requests concurrently; wait for the write lock instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if REDIS_URL:
    CACHES = {
        "default": {
            # RedisCache that falls back to a per-process LocMemCache while Redis is unreachable (never a 500).
            "BACKEND": "config.redis_guard.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            # Tests get a prefix per run: concurrent runs share the machine's Redis without interfering.
            "KEY_PREFIX": f"thr-test-{os.getpid()}" if TESTING else env_str("CACHE_KEY_PREFIX", "thr"),
            "OPTIONS": {"socket_connect_timeout": REDIS_SOCKET_TIMEOUT, "socket_timeout": REDIS_SOCKET_TIMEOUT},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
# Overridable so production-shape tests can collect static files outside the working tree.
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
if DEBUG:
    # In development WhiteNoise serves straight from the finders; an absent STATIC_ROOT only made it warn
    # "No directory at staticfiles" on every start.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)

LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "home"

# --- allauth: email + password, verification mandatory, no enumeration -------------------------------
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = True
ACCOUNT_DEFAULT_HTTP_PROTOCOL = _site.scheme or "https"
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Threshold] "
# Every allauth email goes through our outbox (recorded, then sent by a Celery task after commit), and
# every typed address is made canonical (accounts.identity) before allauth looks it up or mails it.
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ACCOUNT_FORMS = {
    "login": "accounts.forms.LoginForm",
    "signup": "accounts.forms.SignupForm",
    "reset_password": "accounts.forms.ResetPasswordForm",
    "change_email": "accounts.forms.ChangeEmailForm",
}

# --- Email ------------------------------------------------------------------------------------------
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Threshold <hello@threshold.local>")
# Shown in the footer and on the privacy and terms pages: where people write about their data.
CONTACT_EMAIL = env_str("CONTACT_EMAIL", parseaddr(DEFAULT_FROM_EMAIL)[1])
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=True)
# A silent mail server must not hold a worker forever (smtplib waits without limit by default).
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)

# --- Celery -----------------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"  # a host: kombu warns on every start without one
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The broker is Redis too: bounded waits everywhere, so publishing from a web request can never hang.
# kombu's socket timeouts default to None (a black-holed broker would block a publish forever);
# max_retries bounds the connection attempts of a publish (kombu otherwise retries until
# broker_connection_timeout). A message a killed worker had taken comes back to the queue once it is
# older than visibility_timeout (checked when a worker starts and every unacked_restore_interval x
# throttle seconds): it must exceed the longest task plus the longest retry countdown (backoff caps at
# 15 minutes), or a message held for its countdown is delivered twice. Tests shorten it.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
    # A publish to a silent broker gives up after this (the worker reads BRPOP replies only once readable).
    "socket_timeout": env_float("CELERY_BROKER_SOCKET_TIMEOUT", 1.0),
    # A publish that cannot connect fails at once (no 2 s back-off); the caller keeps the work recorded.
    "max_retries": 0,
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
    "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_INTERVAL", 10),
}
CELERY_BROKER_CONNECTION_TIMEOUT = env_float("CELERY_BROKER_CONNECTION_TIMEOUT", 2.0)
# Workers keep reconnecting while Redis is away, at start-up too (Celery 6 changes the start-up default).
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# Work recorded while Redis was down (emails, webhook events) is queued again once beat can reach it.
CELERY_BEAT_SCHEDULE = {
    "requeue-stalled-work": {"task": "accounts.tasks.requeue_stalled_work", "schedule": 60.0},
    # Option B: coaches' Intervals.icu rosters (new athletes, changed read/write permission, departures).
    "refresh-coach-rosters": {"task": "coaching.tasks.refresh_all_rosters", "schedule": 30 * 60.0},
}

# --- Security ---------------------------------------------------------------------------------------
# Sessions live in the database under a digest of their key: a dump or backup signs nobody in.
SESSION_ENGINE = "accounts.sessions"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# config/middleware.py adds the Content-Security-Policy (with frame-ancestors 'none') to every page.
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}

# --- Logging: secrets never reach a log line (see config/logging_filters.py) --------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_secrets": {"()": "config.logging_filters.MaskSecretsFilter"}},
    "formatters": {
        "plain": {
            "()": "config.logging_filters.MaskingFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["mask_secrets"]},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "httpx": {"level": "WARNING"},
        # The MCP SDK logs every stateless request at INFO ("Terminating session"): noise, and CPU per call.
        "mcp": {"level": "WARNING"},
        "uvicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
