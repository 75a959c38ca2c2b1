"""Settings for dxapi, read from the environment.

SQLite is the embedded default; set ``DATABASE_URL`` for PostgreSQL. With ``DEBUG`` off a
``SECRET_KEY`` must be given: there is no default production secret.
"""

import datetime
import os
import secrets
import warnings
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG")

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    # Development only: a fresh key per process (sessions end on restart).
    SECRET_KEY = secrets.token_urlsafe(50)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")

INSTALLED_APPS = [
    "initiatives.admin_site.DxAdminConfig",  # django.contrib.admin with DxAdminSite
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "corsheaders",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from here, not from a CDN
    "csp",
    "drf_standardized_errors",
    "rest_framework_api_key",
    "simple_history",
    "axes",
    "initiatives",
    "evaluations",
]

MIDDLEWARE = [
    "dxapi.middleware.RequestIDMiddleware",
    "dxapi.middleware.RequestSizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # ETag, conditional GET, Cache-Control, Vary: outside what sets cookies and Vary.
    "dxapi.http_cache.HttpCacheMiddleware",
    # Reads on the primary during and after a caller's write (sets its cookie: inside the above).
    "dxapi.replicas.ReplicaPinMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Innermost: the public's stored responses, served before the URL is resolved.
    "evaluations.api.cached_responses.PublicResponseMiddleware",
]

ROOT_URLCONF = "dxapi.urls"
WSGI_APPLICATION = "dxapi.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}

# psycopg 3 connection pool on PostgreSQL (per process); DATABASE_POOL_MAX_SIZE=0 turns it off.
# No ping per checkout, neither Django's CONN_HEALTH_CHECKS nor the pool's ``check`` callback
# (``ConnectionPool.check_connection`` is a ``SELECT``-like round trip too): on the fastest
# reads that round trip is a tenth of the request. Stale connections are kept rare instead:
# the pool closes those idle longer than ``max_idle`` (under any firewall's or server's idle
# cut-off) and replaces each after ``max_lifetime``; a connection broken in use (a database
# restart) fails that one request and is discarded, not handed out again, when it comes back.
POOL_MAX_SIZE = int(os.environ.get("DATABASE_POOL_MAX_SIZE", "8"))
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and POOL_MAX_SIZE:
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps the connections
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False  # the pool's lifetimes instead
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": int(os.environ.get("DATABASE_POOL_MIN_SIZE", "1")),
        "max_size": POOL_MAX_SIZE,
        "timeout": 10,
        "max_idle": float(os.environ.get("DATABASE_POOL_MAX_IDLE", "300")),
        "max_lifetime": float(os.environ.get("DATABASE_POOL_MAX_LIFETIME", "1800")),
    }

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Each transaction takes SQLite's write lock when it begins: writers queue (up to the
    # timeout) instead of failing when two of them upgrade a read to a write at once, and a
    # transaction that read a version writes before anyone else can change it.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )

# A PostgreSQL read replica (``dxapi.replicas``): ORM reads go there; writes, transactions
# and a caller's reads for REPLICA_STICKY_SECONDS after its writes stay on the primary.
DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL", "")
REPLICA_STICKY_SECONDS = int(os.environ.get("REPLICA_STICKY_SECONDS", "5"))
REPLICA_RETRY_SECONDS = int(os.environ.get("REPLICA_RETRY_SECONDS", "10"))  # after a failure
DATABASE_ROUTERS = ["dxapi.replicas.PrimaryReplicaRouter"] if DATABASE_REPLICA_URL else []
if DATABASE_REPLICA_URL:
    _replica = dj_database_url.parse(DATABASE_REPLICA_URL)
    if not _replica["ENGINE"] == DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_REPLICA_URL needs PostgreSQL for both databases.")
    _options = {**DATABASES["default"].get("OPTIONS", {}), **_replica.get("OPTIONS", {})}
    if "pool" in _options:
        _size = int(os.environ.get("DATABASE_REPLICA_POOL_MAX_SIZE", str(POOL_MAX_SIZE)))
        # A read waits this long for a replica connection, then goes to the primary.
        _timeout = float(os.environ.get("DATABASE_REPLICA_POOL_TIMEOUT", "2"))
        _options["pool"] = {**_options["pool"], "max_size": _size, "timeout": _timeout}
    DATABASES["replica"] = {
        **DATABASES["default"],
        **{key: _replica[key] for key in ("NAME", "USER", "PASSWORD", "HOST", "PORT")},
        "OPTIONS": _options,
        # No test database of its own: the primary's test database replicates to it.
        "TEST": {"MIRROR": "default"},
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # login throttling: refuses locked-out logins
    "django.contrib.auth.backends.ModelBackend",
    # Admin permissions that follow from a user's memberships (``initiatives.backends``).
    "initiatives.backends.RoleBackend",
]
# Login throttling (django-axes): after 5 failed logins of a user from an address, that
# user and address are locked out for 15 minutes. The address is the client's
# (``dxapi.client_address``, as for the API's throttles): ``X-Forwarded-For`` is believed
# only from ``TRUSTED_PROXIES`` (addresses or CIDR networks), so that behind the TLS proxy a
# stranger locks a user out from the stranger's own address only.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")
AXES_CLIENT_IP_CALLABLE = "dxapi.client_address.client_address"
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = datetime.timedelta(minutes=int(os.environ.get("LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", "日本語"), ("en", "English")]
TIME_ZONE = "Asia/Tokyo"
USE_I18N = True
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

# Security: secure cookies, HSTS and HTTPS redirect when DEBUG is off (behind a proxy that
# terminates TLS and sets X-Forwarded-Proto).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# A load balancer probes the health endpoints over plain HTTP, behind the TLS proxy.
SECURE_REDIRECT_EXEMPT = [r"^health/"]
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# Cross-origin browser access only for the configured origins (frontends).
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS")
CORS_EXPOSE_HEADERS = ["ETag", "X-Request-ID"]
CORS_ALLOW_HEADERS = [
    "accept",
    "authorization",
    "content-type",
    "if-match",
    "x-csrftoken",
    "x-request-id",
]
# Request size limits: bodies (uploads included) and form fields.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("MAX_REQUEST_BYTES", str(1024 * 1024)))
MAX_UPLOAD_BYTES = int(os.environ.get("MAX_UPLOAD_BYTES", str(50 * 1024 * 1024)))
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# WhiteNoise serves the static files (admin, Swagger UI, ReDoc) in production too. It finds
# them in the installed packages, so no `collectstatic` step is needed; a deployment that runs
# `collectstatic` may set WHITENOISE_USE_FINDERS=0 to serve STATIC_ROOT only.
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", True)
if WHITENOISE_USE_FINDERS:
    # Without collectstatic there is no STATIC_ROOT: that is expected, not worth a warning.
    warnings.filterwarnings("ignore", message=r"No directory at: .*staticfiles")

# Content-Security-Policy on every response (django-csp): only this origin's scripts, no
# inline script, no framing. Inline styles are allowed: the admin, the report's HTML and the
# Swagger UI/ReDoc pages use style attributes or <style> blocks.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# The cache holds what every process must agree on: throttle counters, cached aggregates and
# resolved API keys (a revocation clears a key everywhere at once only in a shared cache). So
# production needs Redis (REDIS_URL); ALLOW_LOCAL_CACHE=1 accepts a per-process memory cache,
# for single-process deployments only. DEBUG (``make run``) uses the memory cache.
REDIS_URL = os.environ.get("REDIS_URL", "")
if not REDIS_URL and not DEBUG and not env_bool("ALLOW_LOCAL_CACHE"):
    raise ImproperlyConfigured(
        "REDIS_URL must be set when DEBUG is off (or ALLOW_LOCAL_CACHE=1 for a single process)."
    )
CACHES = {
    "default": (
        {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "dxapi"}
    )
}
# How long a resolved API key is kept in the cache (0: not cached). Every change to a key
# (revocation, expiry, role, deletion) clears it at once.
API_KEY_CACHE_SECONDS = int(os.environ.get("API_KEY_CACHE_SECONDS", "60"))

# HTTP caching (dxapi.http_cache): how long a shared cache (a proxy, a CDN) or a browser may
# serve an anonymous read without asking again, and then serve it stale while it revalidates.
PUBLIC_CACHE_MAX_AGE = int(os.environ.get("PUBLIC_CACHE_MAX_AGE", "10"))
PUBLIC_CACHE_STALE_WHILE_REVALIDATE = int(
    os.environ.get("PUBLIC_CACHE_STALE_WHILE_REVALIDATE", "30")
)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First, so that a refused or missing credential is a 401 with a challenge.
        "initiatives.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        # Fixed windows counted atomically in the cache, per client address, user or key.
        "dxapi.throttling.AnonymousRateThrottle",
        "dxapi.throttling.UserRateThrottle",
        "dxapi.throttling.ApiKeyRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("THROTTLE_ANON", "600/minute"),
        "user": os.environ.get("THROTTLE_USER", "3000/minute"),
        "api_key": os.environ.get("THROTTLE_API_KEY", "6000/minute"),
        # Citizens' opinions sent, per person (user or client address).
        "opinions": os.environ.get("THROTTLE_OPINIONS", "10/hour"),
    },
    "DEFAULT_PERMISSION_CLASSES": ["initiatives.api.permissions.IsAuthenticatedActor"],
    "DEFAULT_FILTER_BACKENDS": [
        # First: an unknown query parameter is a 400, a form body a 415 (dxapi.strict).
        "dxapi.strict.StrictInputsFilter",
        "django_filters.rest_framework.DjangoFilterBackend",
        "dxapi.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    # The browsable API is for development; production answers JSON only.
    "DEFAULT_RENDERER_CLASSES": [
        "drf_orjson_renderer.renderers.ORJSONRenderer",
        *(["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    ],
    # JSON only: a form would read `5` as text and `null` as "None" (415 for it). The sheet
    # import alone takes multipart (its own parser_classes).
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "dxapi.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "dxapi.schema.AutoSchema",
    "EXCEPTION_HANDLER": "drf_standardized_errors.handler.exception_handler",
    "DEFAULT_VERSIONING_CLASS": None,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

DRF_STANDARDIZED_ERRORS = {
    "ENABLE_IN_DEBUG_FOR_UNHANDLED_EXCEPTIONS": False,
    "EXCEPTION_HANDLER_CLASS": "dxapi.exceptions.DomainExceptionHandler",
    "ALLOWED_ERROR_STATUS_CODES": [
        "400",
        "401",
        "403",
        "404",
        "405",
        "409",
        "411",
        "412",
        "413",
        "415",
        "428",
        "429",
    ],
    "ERROR_SCHEMAS": {
        "409": "dxapi.exceptions.ClientErrorResponseSerializer",
        "412": "dxapi.exceptions.ClientErrorResponseSerializer",
        "428": "dxapi.exceptions.ClientErrorResponseSerializer",
        "411": "dxapi.exceptions.ClientErrorResponseSerializer",
        "413": "dxapi.exceptions.ClientErrorResponseSerializer",
    },
}

_STANDARD_ERROR_ENUMS = [
    "ValidationErrorEnum",
    "ClientErrorEnum",
    "ServerErrorEnum",
    "ErrorCode401Enum",
    "ErrorCode403Enum",
    "ErrorCode404Enum",
    "ErrorCode405Enum",
    "ErrorCode406Enum",
    "ErrorCode415Enum",
    "ErrorCode429Enum",
    "ErrorCode500Enum",
]

SPECTACULAR_SETTINGS = {
    "TITLE": "dxapi",
    "DESCRIPTION": (
        "Progress management of a DX promotion plan (DX推進計画の進行管理): plans, pillars, "
        "policy areas, initiatives, departments, KPIs and the yearly evaluations with their "
        "A/B/C ratings, review workflow and rating aggregates. Fiscal years are the Western year "
        "that starts them (2024 = R6 = 令和6年度); filters accept `2024` or `R6`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and ReDoc from drf-spectacular-sidecar's static files, not a CDN: the docs
    # work on closed networks (LGWAN) and under the Content-Security-Policy.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "RatingEnum": "evaluations.models.Rating",
        "EvaluationStatusEnum": "evaluations.models.EvaluationStatus",
        "TransitionRatingEnum": "evaluations.aggregates.TRANSITION_RATINGS",
        "RoundStatusEnum": "evaluations.models.RoundStatus",
        "JobStateEnum": "evaluations.models.JobState",
        "JobKindEnum": "evaluations.models.JobKind",
        "EventKindEnum": "evaluations.models.EventKind",
        "WebhookDeliveryStateEnum": "evaluations.models.DeliveryState",
        "KPIDirectionEnum": "initiatives.models.KPIDirection",
        "DepartmentRoleEnum": "initiatives.models.DepartmentRole",
        "ApiKeyRoleEnum": "initiatives.models.ApiKeyRole",
        "OpinionStatusEnum": "evaluations.models.OpinionStatus",
        "OpinionSourceEnum": "evaluations.models.OpinionSource",
        "AgeBandEnum": "evaluations.models.AgeBand",
        **{
            name: f"drf_standardized_errors.openapi_serializers.{name}.choices"
            for name in _STANDARD_ERROR_ENUMS
        },
    },
    "POSTPROCESSING_HOOKS": [
        "drf_standardized_errors.openapi_hooks.postprocess_schema_enums",
        "dxapi.schema.tidy_for_clients",
    ],
}

# Files the service writes: the sheets of import jobs and the results of export jobs, read
# back through the API (``/api/v1/jobs/{id}/file/``), never served from MEDIA_URL. Web and
# worker processes on several machines need a shared volume at MEDIA_ROOT, or an
# object-storage backend (FILE_STORAGE_BACKEND, with its own settings).
MEDIA_ROOT = os.environ.get("MEDIA_ROOT", str(BASE_DIR / "media"))
MEDIA_URL = "media/"
STORAGES = {
    "default": {
        "BACKEND": os.environ.get(
            "FILE_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage"
        )
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Jobs (``dxapi.jobs``, ``evaluations.jobs``): with CELERY_BROKER_URL (e.g.
# redis://127.0.0.1:6379/0) they go to Celery workers (`celery -A dxapi worker`) and the
# periodic tasks to `celery -A dxapi beat`; without it they run in the web process once the
# request's transaction commits, in JOBS_IN_PROCESS_THREADS background threads (0: in the
# request itself), and the periodic tasks when jobs are queued. A job's state lives in the
# database (``evaluations.Job``): no result backend.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# A job in flight when its worker dies is delivered again (acknowledged when it ends); Redis
# redelivers an unacknowledged task after the visibility timeout, longer than any job.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = int(os.environ.get("JOB_TIME_LIMIT_SECONDS", "1800"))
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 60
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT + 600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {
    "delete-expired-jobs": {
        "task": "evaluations.tasks.delete_expired_jobs",
        "schedule": float(os.environ.get("JOB_CLEANUP_SECONDS", "3600")),
    },
    # Webhooks: events not dispatched, retries due, deliveries whose sender died.
    "sweep-webhooks": {
        "task": "evaluations.tasks.sweep_webhooks",
        "schedule": float(os.environ.get("WEBHOOK_SWEEP_SECONDS", "10")),
    },
    # E-mail reminders, digests and unsent e-mails (``evaluations.notifications``): checked
    # every NOTIFY_CHECK_SECONDS; each reminder and digest goes out once a day at most.
    **{
        name: {
            "task": f"evaluations.tasks.{task}",
            "schedule": float(os.environ.get("NOTIFY_CHECK_SECONDS", "3600")),
        }
        for name, task in (
            ("notify-due-reminders", "send_due_reminders"),
            ("notify-secretariat-digests", "send_secretariat_digests"),
            ("notify-resend-unsent", "resend_unsent_emails"),
        )
    },
}
JOBS_IN_PROCESS_THREADS = int(os.environ.get("JOBS_IN_PROCESS_THREADS", "2"))
# Retries of a transient failure (database unreachable …): after 5, 10, 20 … seconds.
JOB_MAX_RETRIES = int(os.environ.get("JOB_MAX_RETRIES", "3"))
JOB_RETRY_BACKOFF_SECONDS = int(os.environ.get("JOB_RETRY_BACKOFF_SECONDS", "5"))
# How long a finished job, its result and its file are kept.
JOB_RESULT_DAYS = int(os.environ.get("JOB_RESULT_DAYS", "7"))
# Sheet imports from this many data rows, or this many bytes, run as jobs (202 Accepted).
IMPORT_JOB_MIN_ROWS = int(os.environ.get("IMPORT_JOB_MIN_ROWS", "2000"))
IMPORT_JOB_MIN_BYTES = int(os.environ.get("IMPORT_JOB_MIN_BYTES", str(1024 * 1024)))
# Opinion imports (each text masked) from this many lines, or this many bytes, run as jobs.
OPINION_IMPORT_JOB_MIN_ROWS = int(os.environ.get("OPINION_IMPORT_JOB_MIN_ROWS", "500"))
OPINION_IMPORT_JOB_MIN_BYTES = int(os.environ.get("OPINION_IMPORT_JOB_MIN_BYTES", "262144"))

# Events and webhooks (``evaluations.events``, ``evaluations.webhooks``). The event feed shows
# events at least EVENT_FEED_DELAY_SECONDS old (a slow commit is not skipped by a reader).
EVENT_FEED_DELAY_SECONDS = float(os.environ.get("EVENT_FEED_DELAY_SECONDS", "5"))
# The key the webhooks' signing secrets are derived from (default: SECRET_KEY). Changing it
# changes every secret: rotate them all then.
WEBHOOK_SECRET_KEY = os.environ.get("WEBHOOK_SECRET_KEY", "")
# Allow webhook URLs on private, loopback and link-local addresses (a prefecture's own
# systems on its closed network); cloud metadata addresses stay refused.
WEBHOOK_ALLOW_PRIVATE_TARGETS = env_bool("WEBHOOK_ALLOW_PRIVATE_TARGETS")
WEBHOOK_CONNECT_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_CONNECT_TIMEOUT_SECONDS", "3"))
WEBHOOK_READ_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_READ_TIMEOUT_SECONDS", "10"))
# A sender holds a delivery this long; past it (the sender died) the sweep sends it again.
WEBHOOK_LEASE_SECONDS = float(os.environ.get("WEBHOOK_LEASE_SECONDS", "60"))
# A delivery queued this long ago and not started is taken for lost and queued again.
WEBHOOK_REQUEUE_SECONDS = float(os.environ.get("WEBHOOK_REQUEUE_SECONDS", "600"))
# Attempts of a delivery, after BASE, 2×BASE, 4×BASE … seconds (50–100 % of it), at most MAX.
WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("WEBHOOK_MAX_ATTEMPTS", "10"))
WEBHOOK_RETRY_BASE_SECONDS = float(os.environ.get("WEBHOOK_RETRY_BASE_SECONDS", "10"))
WEBHOOK_RETRY_MAX_SECONDS = float(os.environ.get("WEBHOOK_RETRY_MAX_SECONDS", "3600"))
# A webhook is paused after this many failed attempts in a row, the first this long ago.
WEBHOOK_PAUSE_AFTER_FAILURES = int(os.environ.get("WEBHOOK_PAUSE_AFTER_FAILURES", "20"))
WEBHOOK_PAUSE_AFTER_SECONDS = float(os.environ.get("WEBHOOK_PAUSE_AFTER_SECONDS", "21600"))

# Broad listening (``evaluations.listening``). The optional language-model step writes
# cluster titles and summaries from masked text through an OpenAI-compatible endpoint (a local
# server on the prefecture's network, or a cloud one where allowed); off while the URL is empty.
OPINION_LLM_BASE_URL = os.environ.get("OPINION_LLM_BASE_URL", "")
OPINION_LLM_MODEL = os.environ.get("OPINION_LLM_MODEL", "gpt-4o-mini")
OPINION_LLM_API_KEY = os.environ.get("OPINION_LLM_API_KEY", "")
OPINION_LLM_TIMEOUT_SECONDS = float(os.environ.get("OPINION_LLM_TIMEOUT_SECONDS", "30"))
OPINION_LLM_MAX_OPINIONS_PER_CLUSTER = int(
    os.environ.get("OPINION_LLM_MAX_OPINIONS_PER_CLUSTER", "10")
)
# The same text from the same sender within this many hours is refused as a duplicate.
OPINION_DUPLICATE_HOURS = int(os.environ.get("OPINION_DUPLICATE_HOURS", "24"))

# E-mail: SMTP whenever EMAIL_HOST is set (DEBUG or not); without it, e-mails are written to
# the console (the log), not sent.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")  # STARTTLS, usually on port 587
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL")  # implicit TLS, usually on port 465
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "30"))
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("Set EMAIL_USE_TLS or EMAIL_USE_SSL, not both.")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "webmaster@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Notifications (``evaluations.notifications``): the address the links in e-mails start
# with; how many days before a department's due date it is reminded; the hour (local time)
# from which the day's reminders and digests go out.
SITE_URL = os.environ.get("SITE_URL", "http://localhost:8000")
NOTIFY_DUE_SOON_DAYS = int(os.environ.get("NOTIFY_DUE_SOON_DAYS", "3"))
NOTIFY_SEND_HOUR = int(os.environ.get("NOTIFY_SEND_HOUR", "9"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "dxapi.middleware.RequestIDLogFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": os.environ.get("LOG_FORMAT", "plain" if DEBUG else "json"),
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Not a line per webhook request (the deliveries' attempts are recorded).
        "httpx": {"level": "WARNING"},
    },
}
