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
POOL_MAX_SIZE = int(os.environ.get("DATABASE_POOL_MAX_SIZE", "8"))
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and POOL_MAX_SIZE:
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps the connections
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": int(os.environ.get("DATABASE_POOL_MIN_SIZE", "1")),
        "max_size": POOL_MAX_SIZE,
        "timeout": 10,
    }

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Each transaction takes SQLite's write lock when it begins: writers queue (up to the
    # timeout) instead of failing when two of them upgrade a read to a write at once, and a
    # transaction that read a version writes before anyone else can change it.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )

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

CACHES = {
    "default": (
        {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
        }
        if os.environ.get("REDIS_URL")
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "dxapi"}
    )
}

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
        "KPIDirectionEnum": "initiatives.models.KPIDirection",
        "DepartmentRoleEnum": "initiatives.models.DepartmentRole",
        "ApiKeyRoleEnum": "initiatives.models.ApiKeyRole",
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
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
