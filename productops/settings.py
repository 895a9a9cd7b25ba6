"""Django settings for productops, read from the environment.

Every variable is listed with a comment in .env.example. The defaults are the embedded stack
(SQLite and a file-system Celery broker under var/), so `make run` works with no servers at all.
Production (PRODUCTOPS_ENV=production) refuses to start without SECRET_KEY and FERNET_KEYS.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
env_file = BASE_DIR / ".env"
if env_file.exists():
    env.read_env(str(env_file))

PRODUCTOPS_ENV = env.str("PRODUCTOPS_ENV", default="dev")
if PRODUCTOPS_ENV not in {"dev", "production"}:
    raise ImproperlyConfigured("PRODUCTOPS_ENV must be 'dev' or 'production'")
IS_PRODUCTION = PRODUCTOPS_ENV == "production"

VAR_DIR = Path(env.str("PRODUCTOPS_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _dev_generated(name: str, factory: object) -> str:
    """Read a dev-only secret from var/, creating it on first run. Never used in production."""
    path = VAR_DIR / name
    if not path.exists():
        path.write_text(factory())  # type: ignore[operator]
        path.chmod(0o600)
    return path.read_text().strip()


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


if IS_PRODUCTION:
    SECRET_KEY = env.str("SECRET_KEY", default="")
    if not SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY must be set when PRODUCTOPS_ENV=production")
    FERNET_KEYS = env.list("FERNET_KEYS", default=[])
    if not FERNET_KEYS:
        raise ImproperlyConfigured("FERNET_KEYS must be set when PRODUCTOPS_ENV=production")
else:
    SECRET_KEY = env.str("SECRET_KEY", default="") or _dev_generated(
        "secret_key", lambda: secrets.token_urlsafe(50)
    )
    FERNET_KEYS = env.list("FERNET_KEYS", default=[]) or [_dev_generated("fernet_key", _fernet_key)]

DEBUG = env.bool("DEBUG", default=not IS_PRODUCTION)
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if IS_PRODUCTION else ["127.0.0.1", "localhost", "[::1]"]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The absolute URL that e-mails link to (digests, unsubscribe).
# Empty means the default; `make run` sets it from HOST and PORT (scripts/run.py).
SITE_URL = (env.str("SITE_URL", default="") or "http://127.0.0.1:8000").rstrip("/")
# Seconds after which a digest claimed for sending but never marked sent counts as a crashed send.
DIGEST_CLAIM_TIMEOUT = env.int("DIGEST_CLAIM_TIMEOUT", default=900)
# --- Alerts (productops.alerts; see docs/alerts.md) ---
# Attempts per alert before it gives up, and the retry backoff's base and cap in seconds (doubling).
ALERT_MAX_ATTEMPTS = env.int("ALERT_MAX_ATTEMPTS", default=6)
ALERT_RETRY_BASE = env.float("ALERT_RETRY_BASE", default=60.0)
ALERT_RETRY_CAP = env.float("ALERT_RETRY_CAP", default=3600.0)
# How far back an evaluation looks for new or changed insights (hours).
ALERT_LOOKBACK_HOURS = env.int("ALERT_LOOKBACK_HOURS", default=48)
# Seconds after which an alert claimed for sending but never finished counts as a crashed send.
ALERT_CLAIM_TIMEOUT = env.int("ALERT_CLAIM_TIMEOUT", default=600)
# Seconds the acknowledge/mute links and chart images in an alert stay valid.
ALERT_LINK_MAX_AGE = env.int("ALERT_LINK_MAX_AGE", default=60 * 60 * 24 * 30)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_celery_beat",
    "axes",
    "productops.core",
    "productops.accounts",
    "productops.signals",
    "productops.portfolio",
    "productops.ui",
    "productops.dashboards",
    "productops.digests",
    "connectors",
    "insights",
    "insights.anomalies",
    "insights.overlaps",
    "insights.feedback",
    "productops.goals",
    "productops.research",
    "productops.competitors",
    "productops.delivery",
    "productops.alerts",
    "productops.api",
    "productops.savedviews",
    "ninja",  # the API docs page uses its bundled Swagger UI from our static files, not a CDN
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "productops.accounts.middleware.RoleRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "productops.urls"
WSGI_APPLICATION = "productops.wsgi.application"

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
                "productops.core.context_processors.shell",
            ],
            # `safe_url` in every template without a {% load %}: links to ingested data go through it.
            "builtins": ["productops.core.templatetags.safe_links"],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'productops.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one file: WAL lets readers run beside the one writer, and
    # IMMEDIATE transactions fail fast on the lock instead of deadlocking on upgrade.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    # A file, not :memory:, so tests that start a real worker process can share the test database.
    DATABASES["default"].setdefault("TEST", {})["NAME"] = str(VAR_DIR / "test_productops.sqlite3")
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and locks ----------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    # Sessions are read from Redis on every request and written through to the database, which stays
    # the durable copy: one fewer database query per page.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# Prefix of the lock keys this app keeps in Redis (the test settings use their own).
LOCK_KEY_PREFIX = "productops:"

# --- Celery -------------------------------------------------------------------------------------
# One sync attempt: SoftTimeLimitExceeded after the soft limit (committed pages kept, the next attempt
# continues from the cursor), the process killed at the hard limit (prefork pool; the solo pool can't
# enforce time limits, and the HTTP client's per-request deadline bounds each call there).
CONNECTOR_TASK_SOFT_TIME_LIMIT = env.int("CONNECTOR_TASK_SOFT_TIME_LIMIT", default=1800)
CONNECTOR_TASK_TIME_LIMIT = env.int("CONNECTOR_TASK_TIME_LIMIT", default=1860)
CONNECTOR_RETRY_CAP = env.float("CONNECTOR_RETRY_CAP", default=600.0)
# One CSV import attempt (productops.signals.imports): at the soft limit the job fails with its committed
# batches kept and can be resumed; the hard limit kills the process if the soft one can't stop it.
IMPORT_TASK_SOFT_TIME_LIMIT = env.int("IMPORT_TASK_SOFT_TIME_LIMIT", default=1800)
IMPORT_TASK_TIME_LIMIT = env.int("IMPORT_TASK_TIME_LIMIT", default=1860)
# Every other task (insights, digests, housekeeping): Celery's default soft and hard limits.
TASK_SOFT_TIME_LIMIT = env.int("TASK_SOFT_TIME_LIMIT", default=1800)
TASK_TIME_LIMIT = env.int("TASK_TIME_LIMIT", default=1860)
CELERY_TASK_SOFT_TIME_LIMIT = TASK_SOFT_TIME_LIMIT
CELERY_TASK_TIME_LIMIT = TASK_TIME_LIMIT
CELERY_VISIBILITY_TIMEOUT = env.int(
    "CELERY_VISIBILITY_TIMEOUT",
    default=int(
        max(CONNECTOR_TASK_TIME_LIMIT, IMPORT_TASK_TIME_LIMIT, TASK_TIME_LIMIT) + CONNECTOR_RETRY_CAP + 300
    ),
)
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    BROKER_DIR.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR),
        "data_folder_out": str(BROKER_DIR),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        "polling_interval": 0.1,
    }
else:
    # Redis redelivers an unacknowledged message after this many seconds. It must exceed the longest a
    # message can legitimately stay unacked: a retry's countdown (up to CONNECTOR_RETRY_CAP) plus the
    # sync's hard time limit; otherwise a live sync would be handed to a second worker. A killed
    # worker's sync doesn't wait for it: connectors.sync.recover_dead_runs takes over within about
    # CONNECTOR_DEAD_WORKER_AFTER + CONNECTOR_WATCHDOG_INTERVAL seconds.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a killed worker's task is redelivered, not lost
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "connectors.tasks.*": {"queue": "connectors"},
    "insights.*": {"queue": "insights"},
    "productops.digests.tasks.*": {"queue": "email"},
    "productops.alerts.tasks.*": {"queue": "email"},
    "productops.accounts.tasks.*": {"queue": "email"},
}
CELERY_WORKER_QUEUES = env.list(
    "CELERY_WORKER_QUEUES", default=["default", "connectors", "insights", "email"]
)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
# Seconds after which the worker heartbeat counts as missing in /healthz.
WORKER_HEARTBEAT_TTL = env.int("WORKER_HEARTBEAT_TTL", default=60)

# --- Auth ---------------------------------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "productops.accounts.sso.ProductopsOIDCBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "dashboards:overview"
LOGOUT_REDIRECT_URL = "accounts:login"
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked.html"
# Reverse proxies in front of the app that each append to X-Forwarded-For (0: none, use REMOTE_ADDR).
# The lock-out keys on the client address they report (productops/accounts/client_ip.py).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "productops.accounts.client_ip.client_ip"
# Seconds an invitation link stays valid (default 7 days).
INVITATION_MAX_AGE = env.int("INVITATION_MAX_AGE", default=7 * 24 * 3600)

# --- Single sign-on (OpenID Connect; productops/accounts/sso.py) --------------------------------
# The provider's issuer URL (e.g. https://accounts.google.com, https://<tenant>.okta.com,
# https://login.microsoftonline.com/<tenant>/v2.0, https://keycloak.example.com/realms/<realm>).
# Empty: no SSO. Endpoints come from <issuer>/.well-known/openid-configuration.
OIDC_ISSUER = env.str("OIDC_ISSUER", default="").rstrip("/")
OIDC_CLIENT_ID = env.str("OIDC_CLIENT_ID", default="")
OIDC_CLIENT_SECRET = env.str("OIDC_CLIENT_SECRET", default="")
OIDC_PROVIDER_NAME = env.str("OIDC_PROVIDER_NAME", default="single sign-on")
# E-mail domains whose users get an account (role PM) on their first SSO sign-in; others need an
# account or an invitation.
OIDC_AUTO_PROVISION_DOMAINS = [
    d.strip().lower() for d in env.list("OIDC_AUTO_PROVISION_DOMAINS", default=[]) if d
]
# false: only SSO signs in (the password form is hidden and refused).
LOCAL_LOGIN_ENABLED = env.bool("LOCAL_LOGIN_ENABLED", default=True)
if OIDC_ISSUER and not (OIDC_CLIENT_ID and OIDC_CLIENT_SECRET):
    raise ImproperlyConfigured("OIDC_ISSUER is set: set OIDC_CLIENT_ID and OIDC_CLIENT_SECRET too.")
if not LOCAL_LOGIN_ENABLED and not OIDC_ISSUER:
    raise ImproperlyConfigured("LOCAL_LOGIN_ENABLED=false needs single sign-on: set OIDC_ISSUER.")
OIDC_TIMEOUT = 10
OIDC_USE_PKCE = True
OIDC_RP_SCOPES = "openid email profile"
OIDC_AUTHENTICATION_CALLBACK_URL = "accounts:sso_callback"

# --- I18N ---------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static files: served by whitenoise; Plotly's JS comes from the installed plotly package -----
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
# Dev and tests serve straight from the finders (including plotly's package); production from collectstatic.
WHITENOISE_USE_FINDERS = not IS_PRODUCTION
WHITENOISE_AUTOREFRESH = not IS_PRODUCTION


def _plotly_js_dir() -> str:
    import plotly

    return str(Path(plotly.__file__).resolve().parent / "package_data")


STATICFILES_DIRS = [BASE_DIR / "static", ("vendor/plotly", _plotly_js_dir())]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if IS_PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = VAR_DIR / "media"

# --- E-mail -------------------------------------------------------------------------------------
_email: dict[str, Any]
_email_url = env.str("EMAIL_URL", default="")
FILEMAIL = "filemail://"
if _email_url.startswith(FILEMAIL):
    # django-environ reads filemail:///abs/dir as the relative abs/dir (and filemail://var/mail as host
    # "var"), so a file-mail URL is taken literally: an absolute path, or one relative to the project.
    _mail_dir = Path(_email_url[len(FILEMAIL) :] or VAR_DIR / "mail")
    _email = {
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(_mail_dir if _mail_dir.is_absolute() else BASE_DIR / _mail_dir),
    }
elif _email_url:
    _email = env.email_url("EMAIL_URL")
    # django-environ puts ?tls=True / ?ssl=True into OPTIONS, which Django's SMTP backend ignores: read
    # them here, or the documented smtp://…:587/?tls=True would send the password in clear text.
    for _flag, _value in (_email.pop("OPTIONS", None) or {}).items():
        if _flag.lower() in ("tls", "ssl"):
            _email[f"EMAIL_USE_{_flag.upper()}"] = str(_value).lower() in ("1", "true", "yes", "on")
else:
    _email = {
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(VAR_DIR / "mail"),
    }
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST", "")
EMAIL_PORT = _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
EMAIL_FILE_PATH = _email.get("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
EMAIL_TIMEOUT = 30
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="productops <productops@localhost>")

# --- Security -----------------------------------------------------------------------------------
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
if IS_PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# django-csp 4: no inline or external script anywhere. Plotly sets inline styles on its SVG,
# so styles allow 'unsafe-inline'; scripts never do.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

# --- Connectors ---------------------------------------------------------------------------------
# Dotted paths of connector modules to import at start-up; a self-hoster appends their own.
PRODUCTOPS_CONNECTORS = env.list("PRODUCTOPS_CONNECTORS", default=[]) or [
    "connectors.sources.csv_upload",
    "connectors.sources.http_json",
    "connectors.sources.webhook",
    "connectors.sources.jira_cloud",
    "connectors.sources.jira_dc",
    "connectors.sources.github",
    "connectors.sources.gitlab",
    "connectors.sources.linear",
    "connectors.sources.amplitude",
    "connectors.sources.mixpanel",
    "connectors.sources.posthog",
    "connectors.sources.delighted",
    "connectors.sources.typeform",
    "connectors.sources.zendesk",
    "connectors.sources.intercom",
    "connectors.sources.growthbook",
    "connectors.sources.launchdarkly",
    "connectors.sources.hackernews",
    "connectors.sources.reddit",
    "connectors.sources.zendesk_guide",
    "connectors.sources.sentry",
    "connectors.sources.pagerduty",
    "connectors.sources.statsig",
    "connectors.sources.dovetail",
]
PRODUCTOPS_EXTRA_CONNECTORS = env.list("PRODUCTOPS_EXTRA_CONNECTORS", default=[])
# Sync lock expiry in seconds (Redis and DB-row locks; every committed page extends it).
CONNECTOR_LOCK_TTL = env.int("CONNECTOR_LOCK_TTL", default=300)
# A run with no committed page for this many seconds is marked abandoned by the reaper.
CONNECTOR_RUN_TIMEOUT = env.int("CONNECTOR_RUN_TIMEOUT", default=3600)
# Transient errors: attempts per run, and the backoff base and cap in seconds (full jitter).
CONNECTOR_MAX_ATTEMPTS = env.int("CONNECTOR_MAX_ATTEMPTS", default=5)
CONNECTOR_RETRY_BASE = env.float("CONNECTOR_RETRY_BASE", default=5.0)
# (CONNECTOR_RETRY_CAP, the longest a run waits for a retry, is set with the Celery settings above: a
# source asking to wait longer fails the run with its reason, and the next scheduled sync resumes.)
# A running sync whose worker sent no heartbeat for this many seconds is taken over (see
# connectors.sync.recover_dead_runs); each worker's watchdog checks every CONNECTOR_WATCHDOG_INTERVAL s.
CONNECTOR_DEAD_WORKER_AFTER = env.int("CONNECTOR_DEAD_WORKER_AFTER", default=30)
CONNECTOR_WATCHDOG_INTERVAL = env.float("CONNECTOR_WATCHDOG_INTERVAL", default=10.0)
# One HTTP attempt (connect, headers, whole body) may take at most this many seconds, and its body at
# most this many bytes (streamed; refused beyond it).
CONNECTOR_REQUEST_DEADLINE = env.float("CONNECTOR_REQUEST_DEADLINE", default=120.0)
CONNECTOR_MAX_RESPONSE_BYTES = env.int("CONNECTOR_MAX_RESPONSE_BYTES", default=100 * 1024 * 1024)
# CIDR ranges that the SSRF guard lets through, e.g. an internal Jira on 10.0.0.0/8.
CONNECTOR_ALLOWED_NETWORKS = env.list("CONNECTOR_ALLOWED_NETWORKS", default=[])
# Largest CSV file the import accepts (bytes); the upload page and `manage.py import_csv` both refuse more.
CSV_IMPORT_MAX_BYTES = env.int("CSV_IMPORT_MAX_BYTES", default=20 * 1024 * 1024)
# Valid rows an import commits per transaction (with its progress); a resumed import continues after
# the last committed batch.
IMPORT_BATCH_ROWS = env.int("IMPORT_BATCH_ROWS", default=5000)
# Keyed hash for personal identifiers (respondent e-mails); separate from SECRET_KEY when set.
PII_HASH_KEY = env.str("PII_HASH_KEY", default="") or SECRET_KEY

# --- Feedback, NPS, support and experiments (insights.feedback; see docs/feedback.md) -------------
FEEDBACK_THEME_WINDOW_DAYS = env.int("FEEDBACK_THEME_WINDOW_DAYS", default=365)  # text clustered per product
FEEDBACK_THEME_COUNT = env.int("FEEDBACK_THEME_COUNT", default=0) or None  # 0: sized from the data (3-30)
NPS_MIN_SAMPLE = env.int("NPS_MIN_SAMPLE", default=30)  # fewer responses: a warning and no verdict
NPS_SHIFT_ALPHA = env.float("NPS_SHIFT_ALPHA", default=0.01)  # month-over-month shift insight threshold
EXPERIMENT_MIN_DAYS = env.int("EXPERIMENT_MIN_DAYS", default=3)
EXPERIMENT_MIN_SAMPLE = env.int("EXPERIMENT_MIN_SAMPLE", default=100)  # exposures in the smallest arm
EXPERIMENT_ALPHA = env.float("EXPERIMENT_ALPHA", default=0.05)  # family-wise, Holm-corrected
# JSON: {"<product slug>" or "*": {"start": 9, "end": 17, "weekmask": "1111100", "tz": "Europe/Berlin"}}
SUPPORT_BUSINESS_HOURS = env.json("SUPPORT_BUSINESS_HOURS", default={})

# --- REST API (/api/v1/) ----------------------------------------------------------------------------
# Requests per personal token per minute (0: no limit); past it the API answers 429 with Retry-After.
API_RATE_LIMIT = env.int("API_RATE_LIMIT", default=120)
NINJA_PAGINATION_MAX_LIMIT = 200

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Connection secrets are scrubbed from every record written during a sync (connectors.redaction).
    "filters": {"redact_secrets": {"()": "connectors.redaction.RedactingFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_secrets"]}
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}
