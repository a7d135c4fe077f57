"""Kroma settings: one file, driven by environment variables (see docs/configuration.md)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def envbool(name: str, default: str) -> bool:
    """1/true/yes/on or 0/false/no/off; anything else (a typo like `ture`) stops start-up."""
    value = os.getenv(name, default).strip().lower()
    if value not in TRUE_WORDS + FALSE_WORDS:
        raise ImproperlyConfigured(
            f"{name}={os.environ[name]!r} is not a yes/no value: use one of "
            f"{', '.join(TRUE_WORDS)} or {', '.join(w for w in FALSE_WORDS if w)}."
        )
    return value in TRUE_WORDS


def envint(name: str, default: str) -> int:
    return int(os.getenv(name, default))


def envpath(name: str, default: Path) -> Path:
    value = os.getenv(name)
    if not value:
        return default
    path = Path(value).expanduser()
    return path if path.is_absolute() else (BASE_DIR / path).resolve()


def env_or_file(name: str) -> str | None:
    """`NAME` wins; otherwise `NAME_FILE` names a file holding the value."""
    if os.getenv(name):
        return os.environ[name].strip()
    if os.getenv(f"{name}_FILE"):
        return Path(os.environ[f"{name}_FILE"]).read_text().strip()
    return None


def _local_secret_file(path: Path) -> str:
    """A random secret kept in var/ so local installs survive restarts without set-up."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


VAR_DIR = envpath("KROMA_VAR_DIR", BASE_DIR / "var")
VERSION = "0.1.0"

DEBUG = envbool("KROMA_DEBUG", "0")
SECRET_KEY = env_or_file("KROMA_SECRET_KEY") or _local_secret_file(VAR_DIR / "secret_key")


def is_loopback_bind(bind: str) -> bool:
    """host:port (or [v6]:port) on this machine only."""
    host = bind.rsplit(":", 1)[0].strip("[]") if ":" in bind else bind
    return host in ("127.0.0.1", "localhost", "::1")


BIND = os.getenv("KROMA_BIND", "127.0.0.1:8788")
BOUND_TO_LOOPBACK = is_loopback_bind(BIND)
# Single-user mode logs every request in as the local user: only ever on loopback.
SINGLE_USER_REQUESTED = envbool("KROMA_SINGLE_USER", "0")
SINGLE_USER = SINGLE_USER_REQUESTED and BOUND_TO_LOOPBACK
SINGLE_USER_NAME = os.getenv("KROMA_SINGLE_USER_NAME", "local")

ALLOWED_HOSTS = [
    h.strip() for h in os.getenv("KROMA_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")
]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.getenv("KROMA_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_q",
    "ninja",  # serves its bundled Swagger UI for /api/docs (no CDN)
    "kroma",
    "projects",
    "pipeline",
    "copilot",
]

MIDDLEWARE = [
    "kroma.limits.request_size_middleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "kroma.middleware.single_user_middleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "kroma.urls"
WSGI_APPLICATION = "kroma.wsgi.application"

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
                "kroma.context_processors.kroma",
            ],
        },
    },
]

# SQLite: IMMEDIATE transactions removed lock errors in a measured test; WAL alone made them
# worse. Never ATOMIC_REQUESTS, never mmap_size (ARCHITECTURE.md).
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}
if os.getenv("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=60)}
    if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        DATABASES["default"]["OPTIONS"] = dict(SQLITE_OPTIONS)
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "kroma.sqlite3",
            "OPTIONS": dict(SQLITE_OPTIONS),
            # Opening a connection and running its PRAGMAs costs ~5 ms: keep it per thread.
            "CONN_MAX_AGE": 600,
            "CONN_HEALTH_CHECKS": True,
            # A file, not shared-cache memory: worker threads in tests need real locking.
            # One per test process, so two test runs on one checkout never share it.
            "TEST": {"NAME": str(VAR_DIR / f"test-kroma-{os.getpid()}.sqlite3")},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
# Failed sign-ins per user name and per address before further attempts wait (kroma.throttle).
LOGIN_MAX_FAILURES = envint("KROMA_LOGIN_MAX_FAILURES", "5")
LOGIN_LOCKOUT_SECONDS = envint("KROMA_LOGIN_LOCKOUT_S", "900")
# A file cache: shared by the web processes of this machine (login throttling).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(VAR_DIR / "cache"),
    }
}
LOGIN_REDIRECT_URL = "pipeline:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.getenv("KROMA_TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_ROOT = VAR_DIR / "media"

# The Quick Utility Lab's per-user scratch area (results not yet saved to a project).
SCRATCH_ROOT = envpath("KROMA_SCRATCH_ROOT", VAR_DIR / "scratch")

# Project files live under var/projects/<slug>/ unless the project stores them on S3.
PROJECTS_ROOT = envpath("KROMA_PROJECTS_ROOT", VAR_DIR / "projects")
# Uploads above this many pixels are refused before they are decoded; the default admits a
# 600-dpi 11x17 inch page (6600x10200 = 67.3 MP).
MAX_IMAGE_PIXELS = envint("KROMA_MAX_IMAGE_PIXELS", "80000000")
# Post-processing outputs (an x4 upscale) may be larger than uploads, up to this.
MAX_OUTPUT_PIXELS = envint("KROMA_MAX_OUTPUT_PIXELS", "120000000")
MAX_UPLOAD_BYTES = envint("KROMA_MAX_UPLOAD_BYTES", str(50 * 1024 * 1024))
# Seconds a request body may stall before its server thread gives up (kroma.limits).
BODY_TIMEOUT_SECONDS = envint("KROMA_BODY_TIMEOUT_S", "10")
# The whole request body (kroma.limits checks it before reading); files are streamed to disk.
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_UPLOAD_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_HANDLERS = ["django.core.files.uploadhandler.TemporaryFileUploadHandler"]

# Pipeline configuration files (manifest.json, pricing.json, postprocess.json, ...).
PIPELINE_SETTINGS_DIR = envpath("KROMA_PIPELINE_SETTINGS_DIR", BASE_DIR / "settings")

# Model weights: KROMA_MODELS_DIR first, then the small defaults committed in weights/.
MODELS_DIR = envpath("KROMA_MODELS_DIR", VAR_DIR / "models")
BUNDLED_WEIGHTS_DIR = BASE_DIR / "weights"
# Worker processes load the heavy model sessions (rembg, Real-ESRGAN) in the background at start.
PRELOAD_MODELS = envbool("KROMA_PRELOAD_MODELS", "1")

# Secrets: Fernet master key(s), comma-separated, newest first (IAT_* names from the spec).
MASTER_KEY_FILE = envpath("IAT_MASTER_KEY_FILE", VAR_DIR / "master.key")

# One worker on SQLite by default: SQLite before 3.51.3 can corrupt WAL with concurrent writers.
WORKERS = envint("KROMA_WORKERS", "1")
Q_CLUSTER = {
    "name": "kroma",
    "orm": "default",
    "workers": WORKERS,
    # timeout > the longest single step (an anime_6B upscale of a large image);
    # retry > timeout, or a slow task is delivered twice while it still runs.
    "timeout": envint("KROMA_TASK_TIMEOUT", "1800"),
    "retry": envint("KROMA_TASK_RETRY", "2400"),
    "max_attempts": 3,
    "queue_limit": 4,
    "bulk": 1,
    "catch_up": False,
    "ack_failures": True,
    "save_limit": 500,
    "poll": 0.5,
    "label": "Tasks",
    "sync": envbool("KROMA_TASKS_SYNC", "0"),
}

# A work item's lease: renewed at every step boundary and by a heartbeat every third of it; once
# it expires, the sweeper (each worker's watchdog, every KROMA_SWEEP_S) requeues the item.
JOB_LEASE_SECONDS = envint("KROMA_JOB_LEASE_S", "60")
SWEEP_SECONDS = envint("KROMA_SWEEP_S", "15")

# Served over plain HTTP on loopback by default; production behind TLS sets KROMA_HTTPS=1.
HTTPS = envbool("KROMA_HTTPS", "0" if (DEBUG or BOUND_TO_LOOPBACK) else "1")
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# A strict policy: no inline script or style anywhere (tests/test_browser.py checks every page).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:", "blob:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
SESSION_COOKIE_HTTPONLY = True
if not HTTPS:
    # Plain HTTP on loopback: secure cookies, HSTS and SSL redirect would break the app.
    SILENCED_SYSTEM_CHECKS = ["security.W004", "security.W008", "security.W012", "security.W016"]

# Every handler masks secrets (provider keys, kroma_ tokens, Authorization headers, passwords in
# URLs) before it writes (kroma.lib.redact); Django's own handlers are replaced so none escapes,
# and its error reports (500 emails, the debug page) are masked the same way.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "kroma.lib.redact.RedactingFilter"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]},
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["redact"],
        },
        "mail_admins": {
            "class": "django.utils.log.AdminEmailHandler",
            "filters": ["redact", "require_debug_false"],
        },
    },
    "root": {"handlers": ["console"], "level": os.getenv("KROMA_LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"handlers": ["mail_admins"], "level": "INFO"},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "WARNING"},
    },
}
DEFAULT_EXCEPTION_REPORTER_FILTER = "kroma.error_reports.RedactingReporterFilter"
DEFAULT_EXCEPTION_REPORTER = "kroma.error_reports.RedactingExceptionReporter"
