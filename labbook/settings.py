"""Settings for labbook, all from environment variables with safe development defaults.

SECRET_KEY      secret for signing; when unset, a random key is made once and kept in var/secret_key
DEBUG           "1"/"true" to enable debug pages (default off)
ALLOWED_HOSTS   comma-separated (default: localhost, 127.0.0.1, testserver)
DATABASE_URL    e.g. postgres://postgres@127.0.0.1:5432/labbook (default: SQLite in var/db.sqlite3)
MEDIA_ROOT      where raw files are stored (default: var/media)
DASK_SCHEDULER_ADDRESS  tcp://host:port of a dask scheduler (default: a LocalCluster per job worker)
DASK_DASHBOARD  "1" (127.0.0.1:8787) or host:port: the LocalCluster's dask dashboard (default: none)
LOG_LEVEL, DASK_LOG_LEVEL  stderr logging (default WARNING; DASK_LOG_LEVEL for dask, tornado, bokeh)
LABBOOK_HTTPS   "1" behind HTTPS: redirect, Secure cookies, HSTS (see below and README "Production")
RAW_FILE_MAX_BYTES      largest accepted raw file (default 20 GiB)
ARCHIVE_SIGNING_KEY     Ed25519 private key (base64 of the raw 32 bytes) that signs freeze manifests;
                        when unset, one is made once and kept in var/archive_signing_key
"""

import logging
import os
import secrets
from pathlib import Path

import dj_database_url
from bokeh.util.paths import bokehjs_path
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("LABBOOK_VAR_DIR", BASE_DIR / "var"))


def _env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def _secret_key() -> str:
    if key := os.environ.get("SECRET_KEY"):
        return key
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = _env_bool("DEBUG")
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,testserver").split(",")
    if h.strip()
]

# Served over HTTPS (README "Production"): LABBOOK_HTTPS=1 redirects http to https, marks the session
# and CSRF cookies Secure and sends HSTS for a year (subdomains included, preload allowed: listing
# still needs a submission at hstspreload.org); each setting can also be given on its own. Behind a
# proxy that terminates TLS, SECURE_PROXY_SSL_HEADER=1 trusts its X-Forwarded-Proto header (set it only
# when the proxy always sets that header and nothing else can reach the server).
_HTTPS = _env_bool("LABBOOK_HTTPS")
SECURE_SSL_REDIRECT = _env_bool("SECURE_SSL_REDIRECT", _HTTPS)
SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", _HTTPS)
CSRF_COOKIE_SECURE = _env_bool("CSRF_COOKIE_SECURE", _HTTPS)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 3600 if _HTTPS else 0)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", _HTTPS)
SECURE_HSTS_PRELOAD = _env_bool("SECURE_HSTS_PRELOAD", _HTTPS)
if _env_bool("SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "labbook.pages.apps.LabbookStaticFilesConfig",  # django.contrib.staticfiles minus BokehJS sources
    "labbook.projects",
    "labbook.files",
    "labbook.synthesis",
    "labbook.characterization",
    "labbook.devices",
    "labbook.notebook",
    "simple_history",
    "labbook.archives",
    "labbook.jobs",
    "labbook.results",
    "labbook.tagging",  # tags on any record of a project
    "labbook.recipes",  # templates of a synthesis, a treatment series, a notebook entry
    "labbook.pages",
    "labbook.ops",  # jobs_worker, serve_demo, load_demo: the processes over every app
    "django_tasks_db",
    "rest_framework",
    "labbook.api",  # API tokens (hashed, expiring)
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "labbook.files.uploads.UploadLimitMiddleware",  # before the CSRF check reads the body
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "labbook.urls"

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
                "django.template.context_processors.csp",  # {{ csp_nonce }} for inline scripts
            ],
        },
    },
]

WSGI_APPLICATION = "labbook.wsgi.application"

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout so the web process and the job worker can share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    # A file, not memory, so tests can run the real job worker in another process against it.
    # Named per process so two test runs on one machine do not share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Logins (admin, pages, /api/auth/token/): a user name is refused for LOGIN_LOCKOUT_S seconds after
# LOGIN_FAILURE_LIMIT wrong passwords (labbook.api.authentication); counted in the default cache, so
# several server processes need a shared CACHES backend to count together.
AUTHENTICATION_BACKENDS = ["labbook.api.authentication.LockoutModelBackend"]
LOGIN_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "10"))
LOGIN_LOCKOUT_S = int(os.environ.get("LOGIN_LOCKOUT_S", "900"))
# API tokens: valid for API_TOKEN_TTL_S seconds (default 30 days), at most API_TOKENS_PER_USER each.
API_TOKEN_TTL_S = int(os.environ.get("API_TOKEN_TTL_S", str(30 * 24 * 3600)))
API_TOKENS_PER_USER = int(os.environ.get("API_TOKENS_PER_USER", "10"))
# Debug pages and error reports hide settings and environment variables that look secret
# (DATABASE_URL too: it may carry a password).
DEFAULT_EXCEPTION_REPORTER_FILTER = "labbook.api.exceptions.SecretHidingReporterFilter"

LANGUAGE_CODE = "en-us"
# Dates as a lab notebook writes them (ISO 8601), on the pages and in the admin (labbook/core/formats)
FORMAT_MODULE_PATH = ["labbook.core.formats"]
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on a missing root before collectstatic
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # hashed names (far-future caching) once collectstatic ran; plain names before (labbook/pages/staticfiles.py)
    "staticfiles": {"BACKEND": "labbook.pages.staticfiles.StaticStorage"},
}
# Serve static files from the installed packages without collectstatic (development, make demo);
# production sets WHITENOISE_USE_FINDERS=0 and serves what collectstatic gathered (and compressed).
WHITENOISE_USE_FINDERS = _env_bool("WHITENOISE_USE_FINDERS", True)
# BokehJS from the installed bokeh package (the pages never load it from a CDN).
STATICFILES_DIRS = [("bokeh/static", bokehjs_path())]
# Django's finders, with a path that escapes their folders answered as not found (404, not a 500)
STATICFILES_FINDERS = [
    "labbook.pages.finders.FileSystemFinder",
    "labbook.pages.finders.AppDirectoriesFinder",
]

MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "media/"

# Analysis jobs: rows in our database, run by `manage.py jobs_worker` (django-tasks-db).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
JOB_HEARTBEAT_S = float(os.environ.get("JOB_HEARTBEAT_S", "5"))
JOB_STALE_AFTER_S = float(os.environ.get("JOB_STALE_AFTER_S", "60"))

# The numeric core's cluster: a LocalCluster when unset.
DASK_SCHEDULER_ADDRESS = os.environ.get("DASK_SCHEDULER_ADDRESS", "")

# Raw instrument files: the largest accepted upload, in bytes.
RAW_FILE_MAX_BYTES = int(os.environ.get("RAW_FILE_MAX_BYTES", str(20 * 1024**3)))

# Archives: the key that signs freeze manifests, and limits for importing .eln files.
ARCHIVE_SIGNING_KEY = os.environ.get("ARCHIVE_SIGNING_KEY", "")
# Extra public keys (base64, comma-separated) trusted to verify manifests, e.g. the previous key after a rotation.
ARCHIVE_PUBLIC_KEYS = os.environ.get("ARCHIVE_PUBLIC_KEYS", "")
# Other ELNs' minisign public keys (comma-separated RW... strings) whose .eln signatures are trusted on import.
ARCHIVE_MINISIGN_KEYS = os.environ.get("ARCHIVE_MINISIGN_KEYS", "")
ELN_IMPORT_MAX_BYTES = int(os.environ.get("ELN_IMPORT_MAX_BYTES", str(20 * 1024**3)))
ELN_IMPORT_MAX_ENTRIES = int(os.environ.get("ELN_IMPORT_MAX_ENTRIES", "100000"))
ELN_IMPORT_MAX_RATIO = float(os.environ.get("ELN_IMPORT_MAX_RATIO", "200"))

# Content-Security-Policy (Django's own): scripts only from this server or inline with the
# request's nonce (the Bokeh embeds; templates write <script nonce="{{ csp_nonce }}">), nothing from
# other hosts, no plugins, no framing. Inline styles stay allowed (BokehJS styles its shadow DOM).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:", "blob:"],
    "font-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "pages:dashboard"
LOGOUT_REDIRECT_URL = "login"

# REST API (labbook/api): token and session auth, everything behind login, filters and pagination.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "labbook.api.authentication.TokenAuthentication",  # first, so anonymous calls get a 401
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [  # JSON nested deeper than API_JSON_MAX_DEPTH is a 400
        "labbook.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_RATES": {"login": os.environ.get("API_LOGIN_RATE", "20/min")},
    "DEFAULT_PAGINATION_CLASS": "labbook.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "labbook.api.filters.FilterBackend",
        "labbook.api.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "labbook.api.exceptions.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
API_MAX_PAGE_SIZE = int(os.environ.get("API_MAX_PAGE_SIZE", "1000"))
API_JSON_MAX_DEPTH = int(os.environ.get("API_JSON_MAX_DEPTH", "32"))
SPECTACULAR_SETTINGS = {
    "TITLE": "labbook API",
    "DESCRIPTION": "Records, raw files, analysis jobs and results of the perovskite nanocrystal lab.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],  # nothing without login
    "SWAGGER_UI_DIST": "SIDECAR",  # served from the installed package: no network needed
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "BatchKindEnum": "labbook.synthesis.models.BatchKind",
        "SampleKindEnum": "labbook.synthesis.models.SampleKind",
        "MeasurementKindEnum": "labbook.devices.models.MeasurementKind",
        "JobKindEnum": "labbook.jobs.models.JobKind",
        "JobStatusEnum": "labbook.jobs.models.JobStatus",
        "TechniqueEnum": "labbook.characterization.models.Technique",
    },
}

# Logs go to stderr, WARNING and above by default (LOG_LEVEL). dask.distributed, tornado and bokeh set
# their own loggers to INFO when imported (about 80 lines per LocalCluster start and stop); the filter
# holds them at DASK_LOG_LEVEL (default WARNING) whatever their loggers say. The job worker prints one
# line per job itself; django.tasks' "Task id=... state=..." lines show at LOG_LEVEL=INFO.
LOG_LEVEL = os.environ.get("LOG_LEVEL", "WARNING").upper()
DASK_LOG_LEVEL = os.environ.get("DASK_LOG_LEVEL", "WARNING").upper()
_CHATTY_LIBRARIES = ("distributed", "tornado", "bokeh")


def _not_library_chatter(record) -> bool:
    if record.name.split(".", 1)[0] in _CHATTY_LIBRARIES:
        return record.levelno >= logging.getLevelNamesMapping().get(DASK_LOG_LEVEL, logging.WARNING)
    return True


LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "quiet_libraries": {"()": "django.utils.log.CallbackFilter", "callback": _not_library_chatter}
    },
    "formatters": {"plain": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["quiet_libraries"],
            "formatter": "plain",
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.tasks": {"level": LOG_LEVEL}, "django_tasks_db": {"level": LOG_LEVEL}},
}
