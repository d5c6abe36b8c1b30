"""Salloq Marketing settings.

Everything that differs between a laptop and production comes from the
environment. With no environment at all the project runs on the embedded
default: SQLite (WAL) and kombu's filesystem broker, both under ``var/``.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured, ValidationError

from salloq.core.validators import validate_header_safe

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SALLOQ_VAR_DIR", BASE_DIR / "var"))


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)


def _secret_key() -> str:
    """SECRET_KEY from the environment; for local runs, generated once into var/."""
    key = env_str("SECRET_KEY")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG=0")
    key_file = VAR_DIR / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    # O_EXCL: when web and worker start together, the first writer wins and the other reads it.
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return key_file.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
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
    "django_htmx",
    "django_celery_beat",
    "axes",
    "salloq.core",
    "contacts",
    "catalog",
    "campaigns",
    "flows",
    "events",
    "connector",
]

MIDDLEWARE = [
    # First: every statement of a web request, API or dashboard, runs under WEB_STATEMENT_TIMEOUT_MS.
    "salloq.core.db.StatementTimeoutMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # NUL in the URL or query string and oversized bodies: refused before any view (API or dashboard).
    "salloq.core.input_guard.HostileInputMiddleware",
    # The API gateway answers /api/ requests (alias, key auth, rate limit, then the view itself):
    # what follows never sees an API request, so only the dashboard's own middleware goes below it
    # (tests/core/test_gateway_middleware_order.py fails on any other).
    "salloq.core.middleware.ApiGatewayMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "salloq.core.middleware.CurrentCompanyMiddleware",
    "salloq.core.middleware.ContentSecurityPolicyMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "salloq.urls"
WSGI_APPLICATION = "salloq.wsgi.application"
ASGI_APPLICATION = "salloq.asgi.application"

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
                "salloq.core.context_processors.current_company",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------

SQLITE_PATH = VAR_DIR / "salloq.sqlite3"
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{SQLITE_PATH}")
try:
    _database = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0))
except Exception as exc:  # dj-database-url raises several types for a bad URL
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
if _database["ENGINE"] == "django.db.backends.sqlite3":
    if _database["NAME"] != ":memory:":
        Path(_database["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    _database["CONN_MAX_AGE"] = 0
    _database["OPTIONS"] = {
        # WAL lets the web server read while the worker writes; IMMEDIATE takes the
        # write lock at BEGIN so concurrent writers queue instead of failing to upgrade.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
elif _database["ENGINE"] == "django.db.backends.postgresql":
    _database.setdefault("OPTIONS", {})
    _database["CONN_HEALTH_CHECKS"] = True
# POST /api/events' insert (events/services.py) is prepared on its connection, so PostgreSQL plans it
# once; only that statement (psycopg's connection-wide prepare_threshold would also prepare every
# other statement run 5 times, whose text Django's query log then loses). Behind PgBouncer in
# transaction mode before 1.21, set DB_PREPARED_STATEMENTS=0.
DB_PREPARED_STATEMENTS = env_bool("DB_PREPARED_STATEMENTS", True)
DATABASES = {"default": _database}
# Every statement a web request runs is cancelled by the database after this long (salloq/core/db.py):
# the API answers 503 "Query timed out", the dashboard says to simplify the request. Celery workers
# and management commands are not limited. 0 turns the limit off.
WEB_STATEMENT_TIMEOUT_MS = env_int("WEB_STATEMENT_TIMEOUT_MS", 5000, minimum=0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (rate-limit counters, API key lookups) -------------------------------

REDIS_URL = env_str("REDIS_URL")
CACHE_URL = env_str("CACHE_URL", REDIS_URL)
if CACHE_URL:
    if urlparse(CACHE_URL).scheme not in {"redis", "rediss", "unix"}:
        raise ImproperlyConfigured(f"CACHE_URL must be a redis:// URL, got {CACHE_URL!r}")
    CACHES = {
        "default": {
            "BACKEND": "salloq.core.cache.PooledRedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "salloq"),
        }
    }
else:
    # In-process cache: correct for the embedded default's single web process;
    # several processes need Redis (set REDIS_URL or CACHE_URL).
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "salloq"}}

# --- Auth, sessions, security ---------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
if env_bool("BEHIND_TLS_PROXY", False):
    # Also what tells salloq.core.client_ip that REMOTE_ADDR is the proxy and the client's address
    # is the last X-Forwarded-For entry (the gateway's limit, consent records, login throttling).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # In production behind TLS every plain-http request is redirected and browsers are told to
    # use https only (HSTS; SECURE_HSTS_SECONDS=0 turns it off while trying TLS out).
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Preloading is a promise to the browsers' HSTS lists that cannot be taken back quickly: the
# operator opts in (SECURE_HSTS_PRELOAD=1), so check --deploy does not insist.
SILENCED_SYSTEM_CHECKS = ["security.W021"]

# Dashboard and admin logins (django-axes): after LOGIN_FAILURE_LIMIT failed attempts for one
# username from one address, that pair is locked out for LOGIN_LOCKOUT_MINUTES (a 429 page saying
# so); a successful login clears the count. Attempts are kept in the database (admin: Axes).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "salloq.core.client_ip.client_ip"  # the proxy's X-Forwarded-For when behind one
# Login failures and lockouts are still logged as warnings; the start-up banner is noise in every command.
AXES_VERBOSE = False

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on a missing root
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG
# Uploaded files (CSV imports and their error reports). The web processes and the workers must
# all see this directory: one machine, or a shared volume.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "media/"

# --- Email -------------------------------------------------------------------------

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST") or "127.0.0.1"  # empty is unset, as for MAIL_CATCHER below
EMAIL_PORT = env_int("EMAIL_PORT", 1025, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30, minimum=1)
# With no EMAIL_HOST in the environment (the embedded default), `bin/run` also runs the mail catcher
# on EMAIL_HOST:EMAIL_PORT and the dashboard shows what it received under Outbox (campaigns.mailcatcher).
MAIL_CATCHER = env_bool("MAIL_CATCHER", not env_str("EMAIL_HOST"))
MAIL_CATCHER_KEEP = env_int("MAIL_CATCHER_KEEP", 5000, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Salloq Marketing <marketing@localhost>")
try:
    validate_header_safe(DEFAULT_FROM_EMAIL)
except ValidationError as error:
    raise ImproperlyConfigured(f"DEFAULT_FROM_EMAIL: {error.messages[0]}") from None
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL are mutually exclusive")
# Absolute base of links in emails (confirm, unsubscribe, preferences): the public address of the site.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
if urlparse(SITE_URL).scheme not in {"http", "https"} or not urlparse(SITE_URL).netloc:
    raise ImproperlyConfigured(f"SITE_URL must be an http(s):// URL, got {SITE_URL!r}")

# --- Celery ------------------------------------------------------------------------

BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's own filesystem transport crashes workers and loses tasks under load;
    # salloq/core/broker.py says how, and how its subclass does not.
    from kombu.transport import TRANSPORT_ALIASES

    TRANSPORT_ALIASES["filesystem"] = "salloq.core.broker:Transport"
    for sub in ("queue", "unacked", "corrupt", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "unacked_folder": str(BROKER_DIR / "unacked"),
        "corrupt_folder": str(BROKER_DIR / "corrupt"),
        # Broadcast (pidbox) exchanges: kombu defaults to "control" in the working directory.
        "control_folder": str(BROKER_DIR / "control"),
        # How long a new message may wait for an idle worker; a poll is one listing of a small folder.
        "polling_interval": 0.2,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# Results are not kept: tasks record what matters in the database.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Every periodic job, in one place; django-celery-beat copies these into its tables.
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {"task": "salloq.core.tasks.record_heartbeat", "schedule": 60.0},
    # Also the retry after a mail-server outage, spaced out by salloq.core.mailserver.
    "contacts-double-opt-in-confirmations": {
        "task": "contacts.tasks.send_double_opt_in_confirmations",
        "schedule": 60.0,
    },
    "contacts-double-opt-in-reminders": {
        "task": "contacts.tasks.send_double_opt_in_reminders",
        "schedule": 15 * 60.0,
    },
    "contacts-resume-stalled-imports": {"task": "contacts.tasks.resume_stalled_imports", "schedule": 60.0},
    "contacts-resume-stalled-bulk-actions": {"task": "contacts.tasks.resume_stalled_bulk_actions", "schedule": 60.0},
    # Events stored whose dispatch to the handlers never ran (events/dispatch.py).
    "events-sweep-undispatched": {"task": "events.tasks.sweep_undispatched_events", "schedule": 60.0},
    "events-delete-expired": {"task": "events.tasks.delete_expired_events", "schedule": 60 * 60.0},
    # Salloq Ecommerce syncs that are due, and runs whose worker died (connector/sync.py).
    "connector-schedule-shop-syncs": {"task": "connector.tasks.schedule_shop_syncs", "schedule": 60.0},
    # Scheduled campaigns that are due, and sending campaigns whose workers died (campaigns/delivery.py).
    "campaigns-start-due": {"task": "campaigns.tasks.start_due_campaigns", "schedule": 15.0},
}

# --- Campaigns (campaigns/) ---------------------------------------------------------
# Messages per second one company's campaigns may send, across every worker, unless the company
# sets its own (Settings > Sending).
CAMPAIGN_DEFAULT_SEND_RATE = env_int("CAMPAIGN_DEFAULT_SEND_RATE", 200, minimum=1)
# A worker renews its claim on the recipients it holds with every chunk it sends; claims older than
# this belong to a worker that died, and another worker takes them over (campaigns/delivery.py).
CAMPAIGN_CLAIM_LEASE_SECONDS = env_int("CAMPAIGN_CLAIM_LEASE_SECONDS", 60, minimum=1)
# Recipients one worker claims at a time, and send tasks enqueued per campaign (each with its own
# SMTP connection, looping until no recipient is left): as many as worker slots should share a send.
CAMPAIGN_BATCH_SIZE = env_int("CAMPAIGN_BATCH_SIZE", 500, minimum=1)
CAMPAIGN_SEND_TASKS = env_int("CAMPAIGN_SEND_TASKS", 4, minimum=1)
# Tries per recipient after temporary failures (4xx, lost connections) before it counts as failed.
CAMPAIGN_MAX_ATTEMPTS = env_int("CAMPAIGN_MAX_ATTEMPTS", 5, minimum=1)
# A running CSV import with no progress for this long lost its worker: the beat job above resumes it.
# A chunk of 1000 rows commits in well under a second, so minutes leave room for a slow database.
CONTACT_IMPORT_STALLED_AFTER = env_int("CONTACT_IMPORT_STALLED_AFTER", 180, minimum=1)

# The Salloq Ecommerce connector (connector/). The shop's API keys are encrypted at rest with this
# Fernet key (32 url-safe base64 bytes, `Fernet.generate_key()`); by default one derived from
# SECRET_KEY, so rotating SECRET_KEY without setting this makes stored shop keys unreadable.
CONNECTOR_ENCRYPTION_KEY = env_str("CONNECTOR_ENCRYPTION_KEY")
if CONNECTOR_ENCRYPTION_KEY:
    import base64
    import binascii

    try:
        if len(base64.urlsafe_b64decode(CONNECTOR_ENCRYPTION_KEY.encode())) != 32:
            raise ValueError
    except (ValueError, binascii.Error):
        raise ImproperlyConfigured(
            "CONNECTOR_ENCRYPTION_KEY must be a Fernet key: 32 bytes in url-safe base64 (44 characters)"
        ) from None
# Requests per hour the connector allows itself against one shop (the Salloq Ecommerce API allows 1000).
CONNECTOR_HOURLY_LIMIT = env_int("CONNECTOR_HOURLY_LIMIT", 950, minimum=1)
# Seconds a request to the shop may take (connect, read) before it counts as failed and is retried.
CONNECTOR_TIMEOUT_SECONDS = env_int("CONNECTOR_TIMEOUT_SECONDS", 30, minimum=1)
# A running sync with no progress for this long lost its worker: the beat job resumes it.
CONNECTOR_STALLED_AFTER = env_int("CONNECTOR_STALLED_AFTER", 300, minimum=30)

# Events are deleted this many days after they occurred (events/retention.py, hourly); 0 keeps them.
EVENT_RETENTION_DAYS = env_int("EVENT_RETENTION_DAYS", 0, minimum=0)

# --- API ---------------------------------------------------------------------------

API_DEFAULT_HOURLY_LIMIT = env_int("API_DEFAULT_HOURLY_LIMIT", 1000, minimum=1)
# Requests that carry no valid key are limited per client address, so that
# guessing keys is as expensive as using one.
API_ANONYMOUS_HOURLY_LIMIT = env_int("API_ANONYMOUS_HOURLY_LIMIT", 1000, minimum=1)

# Signed webhooks (POST /api/webhook, events/webhooks.py). A `t=<unix>,v1=<hex>` signature is
# accepted this many seconds either side of the server's clock, and a delivery's digest is kept
# as long, so identical bytes are processed once.
WEBHOOK_TOLERANCE_SECONDS = env_int("WEBHOOK_TOLERANCE_SECONDS", 300, minimum=1)
# A plain signature (hex HMAC of the body, no timestamp) can be replayed at any time: its digest is
# kept this long.
WEBHOOK_PLAIN_REPLAY_WINDOW_HOURS = env_int("WEBHOOK_PLAIN_REPLAY_WINDOW_HOURS", 24, minimum=1)
# After Settings -> Webhook secret rotates the secret, the previous one stays valid this long (0: at once refused).
WEBHOOK_PREVIOUS_SECRET_GRACE_HOURS = env_int("WEBHOOK_PREVIOUS_SECRET_GRACE_HOURS", 24, minimum=0)
# Webhook requests are counted per company and client address, like keyless API requests.
WEBHOOK_HOURLY_LIMIT = env_int("WEBHOOK_HOURLY_LIMIT", 10_000, minimum=1)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["salloq.core.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["salloq.core.permissions.HasApiKeyScope"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_METADATA_CLASS": "salloq.core.api.metadata.ApiMetadata",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "salloq.core.negotiation.JsonOnlyContentNegotiation",
    "DEFAULT_PARSER_CLASSES": ["salloq.core.api.parsers.SalloqJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "salloq.core.pagination.PagePagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "salloq.core.schema.SalloqAutoSchema",
    "EXCEPTION_HANDLER": "salloq.core.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "PAGE_SIZE": 20,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Salloq Marketing API",
    "DESCRIPTION": (
        "Manage contacts, campaigns and flows and track events from your ecommerce and POS "
        "platforms. Authenticate with `Authorization: Bearer <key>` and `X-Company-ID: <id>`. "
        "`/api.php/` is an alias of `/api/`. Request bodies: at most 2.5 MB (else 413), nested at most "
        "32 levels, no NUL characters or lone surrogates in any string or key, numbers finite and within "
        "a double's range; each problem is a 400 naming its JSON path."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/",
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "salloq.core.api.links.add_links"],
    # Several components carry a "status" of the same choice set: name each set once.
    "ENUM_NAME_OVERRIDES": {
        "ContactStatusEnum": "contacts.models.ContactStatus",
        "MembershipStatusEnum": "contacts.models.MembershipStatus",
        "OrderStatusEnum": "catalog.models.OrderStatus",
        "CampaignTypeEnum": "campaigns.models.CampaignType",
        "CampaignStatusEnum": "campaigns.models.CampaignStatus",
        # Per-item results of the catalog's batch upserts (products, orders).
        "UpsertResultStatusEnum": ["created", "updated", "unchanged", "invalid"],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # httpx logs every request at INFO: a shop sync makes thousands (connector/client.py).
    "loggers": {"django.db.backends": {"level": "WARNING"}, "httpx": {"level": "WARNING"}},
}
