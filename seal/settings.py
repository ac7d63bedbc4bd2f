"""Django settings for SEAL, read from the environment.

Two shapes share this file: the embedded default (SQLite file, Celery eager, DEBUG on) that
`make run` brings up with no services, and production (`SEAL_ENV=production`): PostgreSQL, Redis,
workers, beat, secure cookies and HSTS. Production refuses to start with the development secret key.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from seal import task_names

BASE_DIR = Path(__file__).resolve().parent.parent

DEVELOPMENT_SECRET_KEY = "django-insecure-seal-development-key-do-not-use-in-production"  # noqa: S105


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false/1/0), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


SEAL_ENV = os.environ.get("SEAL_ENV", "development").strip().lower()
if SEAL_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(f"SEAL_ENV must be 'development' or 'production', got {SEAL_ENV!r}")
PRODUCTION = SEAL_ENV == "production"

SECRET_KEY = os.environ.get("SECRET_KEY", "" if PRODUCTION else DEVELOPMENT_SECRET_KEY)
if PRODUCTION and (not SECRET_KEY or SECRET_KEY == DEVELOPMENT_SECRET_KEY or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a random value of at least 50 characters in production "
        "(the development key is refused)."
    )

DEBUG = env_bool("DEBUG", default=not PRODUCTION)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off in production (unset DEBUG or set DEBUG=false).")

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]", "testserver"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must name the site's host names in production.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "rest_framework_api_key",
    "simple_history",
    # Login lockout after repeated failures (attempts kept in the database, admin to unlock).
    "axes",
    "csp",
    "seal",
    "annotation",
    "leaderboards",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Logs PermissionDenied raised by views (403) to the seal.security logger.
    "seal.middleware.SecurityLogMiddleware",
    # Axes wants to be last: it turns a locked-out login into its lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "seal.urls"
WSGI_APPLICATION = "seal.wsgi.application"

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
                "annotation.context_processors.workspace_links",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60 if PRODUCTION else 0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default serves one developer; WAL and a busy timeout keep the dev server and
    # an eager Celery task from tripping over each other's locks.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The first hasher hashes every new or changed password; the others only check older hashes, and
# a login that passes with one of them re-hashes the password with the first (Django's upgrade on
# login). Accounts made before argon2id carry PBKDF2 hashes and move over as they log in.
PASSWORD_HASHERS = [
    "seal.hashers.Argon2idPasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
# Axes first: it refuses a locked-out username+IP before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# After AXES_FAILURE_LIMIT wrong passwords for one username from one IP, that pair is refused
# (HTTP 429) until the cool-off has passed or staff reset it (admin "Access attempts", or
# `manage.py axes_reset_username NAME`). Other users and other IPs are unaffected.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Password checks (argon2id, seal/hashers.py; PBKDF2 for accounts not yet moved over) run at most
# this many at a time per web process; the other logins wait their turn (annotation/views.py
# LoginView).
SEAL_LOGIN_CONCURRENCY = env_int("SEAL_LOGIN_CONCURRENCY", 1)
# A login that waited this long for its turn is answered 503 with Retry-After and the form kept:
# a burst then costs each waiting person a retry, not a web thread held for minutes.
SEAL_LOGIN_WAIT_SECONDS = env_float("SEAL_LOGIN_WAIT_SECONDS", 10.0)
# A form refused for its CSRF token gets a site page saying what to do, not Django's bare one.
CSRF_FAILURE_VIEW = "seal.views.csrf_failure"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Outside production WhiteNoise serves straight from the app folders, no collectstatic needed.
WHITENOISE_USE_FINDERS = not PRODUCTION

# Uploaded JSONL prompt files are parsed in memory; cap what a request may carry.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 5 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = env_int("FILE_UPLOAD_MAX_MEMORY_SIZE", 20 * 1024 * 1024)
SEAL_PROMPT_IMPORT_MAX_BYTES = env_int("SEAL_PROMPT_IMPORT_MAX_BYTES", 50 * 1024 * 1024)

# Security headers apply everywhere; the transport-level ones only where TLS terminates in front.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 60 * 60)
# A session ends 8 hours after login whatever the browser does; annotators work long sessions
# across browser restarts, so closing the browser does not log out (the fixed age is the limit).
SESSION_EXPIRE_AT_BROWSER_CLOSE = env_bool("SESSION_EXPIRE_AT_BROWSER_CLOSE", False)
# Content-Security-Policy on every HTML page, in every environment: scripts and styles only from
# this site's files (no inline script or style), nothing may frame us. The SVG chart views send
# their own stricter header, which the middleware leaves alone.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Whether a request came over https is the WSGI server's call: gunicorn believes X-Forwarded-Proto
# only from the proxy addresses in FORWARDED_ALLOW_IPS (gunicorn.conf.py). Django reads the header
# itself, from anyone, only when told to: for a server that cannot check the peer, reachable by
# nothing but a proxy that always sets the header.
if env_bool("SEAL_TRUST_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# Celery: without a broker URL, tasks run eagerly in-process so the embedded default needs nothing.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "").strip() or None
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL is None
# Eager tasks (a collection, a recompute) run on one background thread of the web process, after
# the request that sent them has returned, never inside it (seal/tasking.py). Off: they run inside
# the request, as the unit tests want.
SEAL_EAGER_TASKS_IN_BACKGROUND = env_bool("SEAL_EAGER_TASKS_IN_BACKGROUND", True)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Database rows are the source of truth for jobs; nobody waits on Celery results.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 10 * 60)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 11 * 60)
# A task is acknowledged only once it finished, so a killed worker's job is redelivered.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 60 * 60,
    # Not what bounds a web request's wait for a broker that is down: a publish follows Celery's
    # task_publish_retry_policy (not set here, so Celery's default: 3 retries after 0, 0.2 and
    # 0.4 s, four connection attempts in about 0.6 s; then the message is left to the sweeps, see
    # seal/tasking.py), which kombu copies over these four keys before it connects. These bound
    # only the reconnects kombu makes outside a publish, when a connection's default channel is
    # used.
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1,
}
CELERY_TIMEZONE = TIME_ZONE
# Separate queues let several deployments (or test runs) share one Redis without stealing jobs.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "seal")
# Response collection goes to "<default queue>-collection" (see seal/celery.py).
CELERY_TASK_ROUTES = ("seal.celery.route_task",)
# The sweeps are how work survives a lost message (a broker restarted without persistence, a
# worker killed mid-task): each finds database rows whose job has not moved and sends it again.
SEAL_SWEEP_SECONDS = float(env_int("SEAL_SWEEP_SECONDS", 60))
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "worker-heartbeat": {
        "task": task_names.WORKER_HEARTBEAT_RECORD,
        "schedule": float(env_int("SEAL_HEARTBEAT_SECONDS", 60)),
    },
    # Picks up response collections whose collector died (its lease expired) or never started.
    "collections-resume": {"task": task_names.COLLECTIONS_RESUME, "schedule": SEAL_SWEEP_SECONDS},
    "comparisons-schedule-sweep": {
        "task": task_names.COMPARISONS_SCHEDULE_SWEEP,
        "schedule": SEAL_SWEEP_SECONDS,
    },
    "assignments-expire": {
        "task": task_names.ASSIGNMENTS_EXPIRE,
        "schedule": SEAL_SWEEP_SECONDS,
    },
    # Re-enqueues leaderboard recomputes whose worker died or whose message was lost.
    "leaderboards-sweep": {
        "task": task_names.RECOMPUTE_JOBS_SWEEP,
        "schedule": SEAL_SWEEP_SECONDS,
    },
    # Sends lab webhook deliveries that are due and whose message was lost or whose sender died.
    "webhook-deliveries-sweep": {
        "task": task_names.WEBHOOK_DELIVERIES_SWEEP,
        "schedule": SEAL_SWEEP_SECONDS,
    },
    # Adaptive scheduling: per active domain, add comparisons where the board is unsure and
    # complete the submissions whose evaluation is done; the sweep recovers lost runs.
    "scheduling-run": {
        "task": task_names.SCHEDULING_REQUEST_ALL,
        "schedule": float(env_int("SEAL_SCHEDULING_SECONDS", 15 * 60)),
    },
    "scheduling-sweep": {
        "task": task_names.SCHEDULING_JOBS_SWEEP,
        "schedule": SEAL_SWEEP_SECONDS,
    },
    # A periodic recompute of every domain; unchanged input publishes nothing new.
    "leaderboards-recompute": {
        "task": task_names.RECOMPUTE_REQUEST_ALL,
        "schedule": float(env_int("SEAL_LEADERBOARD_RECOMPUTE_SECONDS", 60 * 60)),
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # One error body everywhere: {"error": {"code", "message", "fields"}}.
    "EXCEPTION_HANDLER": "seal.rest.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "SEAL lab API",
    "DESCRIPTION": (
        "Register model versions, submit them for evaluation and follow their progress. "
        "Authenticate with `Authorization: Api-Key <key>`. Prompt text is never returned."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # The docs page loads Swagger UI from this site's static files, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# Rate limits count in the cache: set CACHE_URL=redis://... so every web process shares them.
# The cache is optional: while Redis is unreachable the site serves without it (seal/cache.py),
# trying Redis again every SEAL_CACHE_RETRY_SECONDS; short socket timeouts bound what a Redis that
# does not answer at all costs a request.
CACHE_URL = os.environ.get("CACHE_URL", "").strip()
SEAL_CACHE_RETRY_SECONDS = env_float("SEAL_CACHE_RETRY_SECONDS", 5.0)
CACHES = {
    "default": (
        {
            "BACKEND": "seal.cache.DegradingRedisCache",
            "LOCATION": CACHE_URL,
            "OPTIONS": {
                "socket_connect_timeout": env_float("CACHE_CONNECT_TIMEOUT_SECONDS", 0.5),
                "socket_timeout": env_float("CACHE_TIMEOUT_SECONDS", 1.0),
            },
        }
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Lab API: requests per API key (DRF rate syntax, e.g. 600/minute) and the largest JSON body.
SEAL_API_RATE_LIMIT = os.environ.get("SEAL_API_RATE_LIMIT", "600/minute")
SEAL_API_MAX_BODY_BYTES = env_int("SEAL_API_MAX_BODY_BYTES", 64 * 1024)

# Response collection from lab endpoints.
SEAL_COLLECTION_CONCURRENCY_PER_LAB = env_int("SEAL_COLLECTION_CONCURRENCY_PER_LAB", 16)
SEAL_COLLECTION_TIMEOUT_SECONDS = env_float("SEAL_COLLECTION_TIMEOUT_SECONDS", 60.0)
SEAL_COLLECTION_MAX_ATTEMPTS = env_int("SEAL_COLLECTION_MAX_ATTEMPTS", 5)
SEAL_COLLECTION_BACKOFF_BASE_SECONDS = env_float("SEAL_COLLECTION_BACKOFF_BASE_SECONDS", 1.0)
SEAL_COLLECTION_BACKOFF_MAX_SECONDS = env_float("SEAL_COLLECTION_BACKOFF_MAX_SECONDS", 30.0)
SEAL_COLLECTION_MAX_RESPONSE_BYTES = env_int("SEAL_COLLECTION_MAX_RESPONSE_BYTES", 4 * 1024 * 1024)
# A collector stops taking new prompts after this long and hands the rest to a new task, so
# one task stays well inside the Celery time limits.
SEAL_COLLECTION_TASK_BUDGET_SECONDS = env_float("SEAL_COLLECTION_TASK_BUDGET_SECONDS", 240.0)
# A prompt claimed this many times without a stored answer (collectors that died, answers the
# database refused) is failed with "send_limit" instead of being sent again.
SEAL_COLLECTION_MAX_SENDS_PER_PROMPT = env_int("SEAL_COLLECTION_MAX_SENDS_PER_PROMPT", 5)
# A collector renews its lab's lease while it runs; a dead one's lease lapses after this long.
SEAL_COLLECTION_LEASE_SECONDS = env_float("SEAL_COLLECTION_LEASE_SECONDS", 90.0)
# Answers are rendered to HTML once, when stored, in a child process killed after the timeout;
# longer answers, answers with more `[` than the limit (shapes markdown-it is slow on) and HTML
# over the size limit are shown as escaped plain text instead.
SEAL_RENDER_TIMEOUT_SECONDS = env_float("SEAL_RENDER_TIMEOUT_SECONDS", 5.0)
SEAL_RENDER_MAX_MARKDOWN_CHARS = env_int("SEAL_RENDER_MAX_MARKDOWN_CHARS", 200_000)
SEAL_RENDER_MAX_BRACKETS = env_int("SEAL_RENDER_MAX_BRACKETS", 5_000)
SEAL_RENDER_MAX_HTML_CHARS = env_int("SEAL_RENDER_MAX_HTML_CHARS", 2_000_000)
# Lab endpoints may not resolve to private, loopback, link-local or metadata addresses. Hosts,
# addresses or networks listed here are exempt (local testing only), each on a port: `host:port`
# (`[v6]:port`), `host:*` for every port; a bare host only on 443 (https) or 80 (http).
SEAL_ENDPOINT_ALLOWED_HOSTS = env_list("SEAL_ENDPOINT_ALLOWED_HOSTS", [])
try:
    from seal.endpoints import AllowList

    AllowList.parse(SEAL_ENDPOINT_ALLOWED_HOSTS)
except ValueError as exc:
    raise ImproperlyConfigured(f"SEAL_ENDPOINT_ALLOWED_HOSTS: {exc}") from exc

# Lab webhooks (seal/webhooks.py): the same address guard and allow list as lab endpoints. A
# delivery is tried up to MAX_ATTEMPTS times; after attempt n it waits about BACKOFF_BASE * 2^(n-1)
# seconds (half fixed, half random), at most BACKOFF_MAX, then gives up (failed). With the
# defaults: 30 s, 1, 2, 4, 8, 16, 32, 64, 128 min between 10 attempts, about 4 h 15 min in all.
SEAL_WEBHOOK_TIMEOUT_SECONDS = env_float("SEAL_WEBHOOK_TIMEOUT_SECONDS", 10.0)
SEAL_WEBHOOK_MAX_ATTEMPTS = env_int("SEAL_WEBHOOK_MAX_ATTEMPTS", 10)
SEAL_WEBHOOK_BACKOFF_BASE_SECONDS = env_float("SEAL_WEBHOOK_BACKOFF_BASE_SECONDS", 30.0)
SEAL_WEBHOOK_BACKOFF_MAX_SECONDS = env_float("SEAL_WEBHOOK_BACKOFF_MAX_SECONDS", 4 * 60 * 60.0)
# A due delivery untouched this long after its time had its message lost: the sweep sends it.
SEAL_WEBHOOK_SWEEP_GRACE_SECONDS = env_float("SEAL_WEBHOOK_SWEEP_GRACE_SECONDS", 60.0)
SEAL_WEBHOOK_MAX_ENDPOINTS_PER_LAB = env_int("SEAL_WEBHOOK_MAX_ENDPOINTS_PER_LAB", 10)
SEAL_WEBHOOK_MAX_PAYLOAD_BYTES = env_int("SEAL_WEBHOOK_MAX_PAYLOAD_BYTES", 256 * 1024)
# After a secret rotation, messages are signed with the old secret too for this long.
SEAL_WEBHOOK_SECRET_OVERLAP_SECONDS = env_int("SEAL_WEBHOOK_SECRET_OVERLAP_SECONDS", 24 * 60 * 60)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        # One JSON object per line, with the event fields (event, user, ip, path, status) as keys.
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
    },
    "filters": {"no_query_strings": {"()": "seal.logfilters.QueryStringFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "security": {"class": "logging.StreamHandler", "formatter": "json"},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # httpx logs every request at INFO; response collection makes thousands.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # Authentication and permission decisions, machine-readable for the log pipeline.
        "seal.security": {"handlers": ["security"], "level": "INFO", "propagate": False},
        # Request lines (runserver) and request errors name the path without its query string:
        # staff searches (?q=) carry private prompt text. gunicorn's access log: gunicorn.conf.py.
        "django.server": {
            "handlers": ["console"],
            "filters": ["no_query_strings"],
            "level": "INFO",
            "propagate": False,
        },
        "django.request": {"filters": ["no_query_strings"]},
    },
}

# How stale the last worker heartbeat may be before /healthz calls the workers down.
SEAL_WORKER_HEARTBEAT_MAX_AGE_SECONDS = env_int("SEAL_WORKER_HEARTBEAT_MAX_AGE_SECONDS", 180)

# Annotation workflow.
SEAL_ASSIGNMENT_LEASE_MINUTES = env_int("SEAL_ASSIGNMENT_LEASE_MINUTES", 30)
# Share of a vetted annotator's next-task requests answered with a hidden gold comparison.
SEAL_GOLD_RATE = float(os.environ.get("SEAL_GOLD_RATE", "0.1"))
# An applicant rates this many gold comparisons and needs this share right to be vetted.
SEAL_QUALIFICATION_SIZE = env_int("SEAL_QUALIFICATION_SIZE", 5)
SEAL_QUALIFICATION_PASS_RATE = float(os.environ.get("SEAL_QUALIFICATION_PASS_RATE", "0.8"))
# Written justification minimum when a domain's rubric does not set its own.
SEAL_JUSTIFICATION_MIN_CHARS = env_int("SEAL_JUSTIFICATION_MIN_CHARS", 30)
# How many established models each new model's answer to a prompt is compared against.
SEAL_COMPARISONS_PER_PROMPT = env_int("SEAL_COMPARISONS_PER_PROMPT", 2)
# Adaptive scheduling (leaderboards/scheduling.py). With a domain rating budget set, the
# scheduling after collection is only a seed: this many comparisons spread over established
# models; the periodic run adds the rest where the board is unsure, within the budget.
SEAL_SCHEDULING_SEED_COMPARISONS = env_int("SEAL_SCHEDULING_SEED_COMPARISONS", 20)
# A model's evaluation is done when its interval's half-width is this narrow (Elo points).
SEAL_SCHEDULING_TARGET_HALF_WIDTH = env_float("SEAL_SCHEDULING_TARGET_HALF_WIDTH", 20.0)
# Open work is kept to what the annotator pool does in this many hours.
SEAL_SCHEDULING_HORIZON_HOURS = env_float("SEAL_SCHEDULING_HORIZON_HOURS", 48.0)
# Recent throughput is measured over this window; with no history, each vetted annotator of
# the domain is assumed to manage this many ratings an hour.
SEAL_SCHEDULING_THROUGHPUT_WINDOW_HOURS = env_float("SEAL_SCHEDULING_THROUGHPUT_WINDOW_HOURS", 168)
SEAL_SCHEDULING_NOMINAL_RATINGS_PER_HOUR = env_float("SEAL_SCHEDULING_NOMINAL_RATINGS_PER_HOUR", 2)
SEAL_SCHEDULING_MAX_PER_RUN = env_int("SEAL_SCHEDULING_MAX_PER_RUN", 300)
SEAL_SCHEDULING_JOB_TIMEOUT_SECONDS = env_int(
    "SEAL_SCHEDULING_JOB_TIMEOUT_SECONDS", CELERY_TASK_TIME_LIMIT + 60
)
SEAL_SCHEDULING_QUEUED_STALE_SECONDS = env_int("SEAL_SCHEDULING_QUEUED_STALE_SECONDS", 300)
SEAL_SCHEDULING_JOB_MAX_ATTEMPTS = env_int("SEAL_SCHEDULING_JOB_MAX_ATTEMPTS", 3)
# A collected submission still unpaired after this long has lost its scheduling message.
SEAL_COMPARISONS_SCHEDULE_STALE_SECONDS = env_int("SEAL_COMPARISONS_SCHEDULE_STALE_SECONDS", 120)

# Leaderboards. Bootstrap replicas per board; the seed is derived from the input fingerprint
# unless SEAL_LEADERBOARD_SEED fixes it.
SEAL_LEADERBOARD_REPLICAS = env_int("SEAL_LEADERBOARD_REPLICAS", 1000)
# The server-side secret of the anonymised ratings files (prompt hashes, rater pseudonyms): a
# holder of a prompt's text cannot recompute its hash without it. Empty: derived from SECRET_KEY
# (so rotating that key changes the hashes in files written afterwards; set this to keep them).
SEAL_RATINGS_FILE_SECRET = os.environ.get("SEAL_RATINGS_FILE_SECRET", "")
SEAL_LEADERBOARD_SEED: int | None = (
    env_int("SEAL_LEADERBOARD_SEED", 0) if os.environ.get("SEAL_LEADERBOARD_SEED") else None
)
# A model needs this many ratings (against other ranked models) on a board, and at least one win
# and one loss, to be ranked; the others are listed with the reason. A board (overall or
# category) with fewer approved ratings in all is shown as not ranked yet.
SEAL_LEADERBOARD_MIN_RATINGS_PER_MODEL = env_int("SEAL_LEADERBOARD_MIN_RATINGS_PER_MODEL", 20)
SEAL_LEADERBOARD_MIN_RATINGS_PER_BOARD = env_int("SEAL_LEADERBOARD_MIN_RATINGS_PER_BOARD", 30)
# Ranked models with fewer ratings than this get a footnote.
SEAL_LEADERBOARD_FEW_RATINGS = env_int("SEAL_LEADERBOARD_FEW_RATINGS", 50)
# A job running longer than this lost its worker (the hard task time limit has passed).
SEAL_LEADERBOARD_JOB_TIMEOUT_SECONDS = env_int(
    "SEAL_LEADERBOARD_JOB_TIMEOUT_SECONDS", CELERY_TASK_TIME_LIMIT + 60
)
# A queued job not picked up for this long gets its message sent again.
SEAL_LEADERBOARD_QUEUED_STALE_SECONDS = env_int("SEAL_LEADERBOARD_QUEUED_STALE_SECONDS", 300)
SEAL_LEADERBOARD_JOB_MAX_ATTEMPTS = env_int("SEAL_LEADERBOARD_JOB_MAX_ATTEMPTS", 3)
# Cache-Control max-age of the public leaderboard pages and JSON.
SEAL_LEADERBOARD_CACHE_SECONDS = env_int("SEAL_LEADERBOARD_CACHE_SECONDS", 60)
# Each web process remembers which snapshot is public per domain until PostgreSQL notifies it of
# a change (leaderboards/public_cache.py), and re-reads it after at most POINTER_MAX_AGE seconds
# anyway. Off by default outside production (and always on SQLite): every request reads fresh.
SEAL_LEADERBOARD_POINTER_CACHE = env_bool("SEAL_LEADERBOARD_POINTER_CACHE", PRODUCTION)
SEAL_LEADERBOARD_POINTER_MAX_AGE = env_float("SEAL_LEADERBOARD_POINTER_MAX_AGE", 1.0)
# Rendered public pages and JSON bodies each web process keeps in memory beside the cache.
SEAL_LEADERBOARD_BODY_MEMORY_BYTES = env_int("SEAL_LEADERBOARD_BODY_MEMORY_BYTES", 32 * 1024 * 1024)
