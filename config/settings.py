"""Settings, read strictly from the environment with safe development defaults.

Production must set at least SECRET_KEY, DEBUG=0, DATABASE_URL, REDIS_URL, PUBLIC_BASE_URL and
ALLOWED_HOSTS. See docs/configuration.md.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import dj_database_url

from config import keyfile
from config.env import ImproperlyConfiguredEnv, envbool, envint, envlist, envnetworks, envstr

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = envbool("DEBUG", True)
(BASE_DIR / "var").mkdir(exist_ok=True)  # the embedded default's database, broker, key and run files
# Development: a random key made on first run and kept in var/secret_key (config/keyfile.py).
SECRET_KEY = envstr("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise RuntimeError("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = keyfile.read_or_create(BASE_DIR / "var" / "secret_key")
# With DEBUG on, Django's debug pages are shown to loopback clients only (config/debug.py).
DEFAULT_EXCEPTION_REPORTER = "config.debug.LoopbackExceptionReporter"

PUBLIC_BASE_URL = envstr("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
INTERNAL_BASE_URL = envstr("INTERNAL_BASE_URL", PUBLIC_BASE_URL.replace("127.0.0.1", "localhost")).rstrip("/")
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
TRUSTED_PROXIES = envlist("TRUSTED_PROXIES", [])
# Named networks for the internal URL's whitelists (SPEC §6.3): {"vpc-a": ["10.1.0.0/16"], …}
MCP_NETWORKS = envnetworks("MCP_NETWORKS")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [PUBLIC_BASE_URL, INTERNAL_BASE_URL])

# Cookies and response headers (docs/security.md). Secure cookies and HSTS when the public base
# URL is https. Django believes X-Forwarded-Proto only behind TRUSTED_PROXIES: without them the
# scheme is the ASGI server's (uvicorn's --proxy-headers, which checks the peer itself).
HTTPS = PUBLIC_BASE_URL.startswith("https://")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = envbool("SECURE_COOKIES", HTTPS)
SESSION_COOKIE_HTTPONLY = CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXIES else None
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 365 * 24 * 3600 if HTTPS else 0)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Services ------------------------------------------------------------------------------------
DATABASE_URL = envstr("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}")
REDIS_URL = envstr("REDIS_URL", "")
REQUIRE_SERVICES = envbool("REQUIRE_SERVICES", False)

# No persistent connections (CONN_MAX_AGE 0): under ASGI every request runs its sync code in a
# thread of its own, so a kept connection would stay behind with that thread. On PostgreSQL a
# per-process psycopg pool bounds the connections instead; a request waits up to DB_POOL_TIMEOUT
# for a free one, then gets a 503 (config.middleware.DatabaseBusy). DB_POOL_MAX_SIZE=0: no pool,
# a connection per request, closed at its end (for an external pooler such as PgBouncer).
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
if "DB_CONN_MAX_AGE" in os.environ:
    raise ImproperlyConfiguredEnv("DB_CONN_MAX_AGE is gone: connections are pooled (DB_POOL_MAX_SIZE, DB_POOL_TIMEOUT)")
DB_POOL_MIN_SIZE = envint("DB_POOL_MIN_SIZE", 2)
DB_POOL_MAX_SIZE = envint("DB_POOL_MAX_SIZE", 10)
DB_POOL_TIMEOUT = envint("DB_POOL_TIMEOUT", 10)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DB_POOL_MAX_SIZE > 0:
    if not 0 <= DB_POOL_MIN_SIZE <= DB_POOL_MAX_SIZE or DB_POOL_TIMEOUT <= 0:
        raise ImproperlyConfiguredEnv("need 0 <= DB_POOL_MIN_SIZE <= DB_POOL_MAX_SIZE and DB_POOL_TIMEOUT > 0")
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": DB_POOL_MIN_SIZE,
        "max_size": DB_POOL_MAX_SIZE,
        "timeout": DB_POOL_TIMEOUT,
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web + worker) share the file: wait for locks instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: Redis when configured, otherwise kombu's filesystem transport (no server needed).
CELERY_BROKER_URL = REDIS_URL or "filesystem://"
_BROKER_DIR = BASE_DIR / "var" / "broker"
if not REDIS_URL:
    _BROKER_DIR.mkdir(exist_ok=True)  # kombu's filesystem transport does not create its folder
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {}
    if REDIS_URL
    else {
        "data_folder_in": str(_BROKER_DIR),
        "data_folder_out": str(_BROKER_DIR),
        "processed_folder": str(_BROKER_DIR),
        "control_folder": str(_BROKER_DIR / "control"),  # exchange tables; kombu's default is ./control
    }
)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1

# Application ---------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",  # its bundled Swagger UI files for /api/docs (otherwise it loads them from a CDN)
    "oauth2_provider",
    "oauth",
    "servers",
    "runtime",
    "terraform",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.SecurityHeaders",
    "config.middleware.DebugPagesOnLoopback",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.middleware.ManagementMethodNotAllowed",
    "config.middleware.DatabaseBusy",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
AUTH_USER_MODEL = "oauth.User"
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

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
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Request limits: the management API refuses bodies above this size with a clear 400.
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("MAX_REQUEST_BYTES", 2 * 1024 * 1024)
MAX_API_BODY_BYTES = envint("MAX_API_BODY_BYTES", 1024 * 1024)

# Secrets at rest (connection credentials): a Fernet key derived from SECRET_KEY unless given.
FIELD_ENCRYPTION_KEY = envstr(
    "FIELD_ENCRYPTION_KEY",
    base64.urlsafe_b64encode(hashlib.sha256(("fernet:" + SECRET_KEY).encode()).digest()).decode(),
)

# AccessKey signatures: allowed clock skew and nonce retention.
SIGNATURE_MAX_SKEW_SECONDS = envint("SIGNATURE_MAX_SKEW_SECONDS", 15 * 60)

# Sign-in throttling (oauth.throttle): failed console logins, token requests and signatures are
# counted per user (client, AccessKey) and per address in windows of SIGNIN_LOCKOUT_SECONDS; at the
# limit further attempts are refused until the window ends. 0 turns a limit off.
SIGNIN_MAX_FAILURES = envint("SIGNIN_MAX_FAILURES", 10)
SIGNIN_MAX_FAILURES_PER_ADDRESS = envint("SIGNIN_MAX_FAILURES_PER_ADDRESS", 50)
SIGNIN_LOCKOUT_SECONDS = envint("SIGNIN_LOCKOUT_SECONDS", 15 * 60)

# OAuth 2.1 authorization server (django-oauth-toolkit; its models are not swapped). See docs/oauth.md.
# Native-app redirect schemes that self-registered clients may use, besides https and loopback http.
OAUTH_REDIRECT_SCHEMES = envlist(
    "OAUTH_REDIRECT_SCHEMES", ["cursor", "vscode", "vscode-insiders", "windsurf", "cherrystudio"]
)
# Dynamic registrations per client address and window; unused registrations are deleted after this.
OAUTH_DCR_MAX_PER_ADDRESS = envint("OAUTH_DCR_MAX_PER_ADDRESS", 20)
OAUTH_DCR_WINDOW_SECONDS = envint("OAUTH_DCR_WINDOW_SECONDS", 3600)
OAUTH_UNUSED_CLIENT_SECONDS = envint("OAUTH_UNUSED_CLIENT_SECONDS", 7 * 24 * 3600)
# Client ID Metadata Documents on loopback/private addresses (intranets, tests), and a CA bundle for them.
OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES = envbool("OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES", False)
OAUTH_CIMD_CA_FILE = envstr("OAUTH_CIMD_CA_FILE", "")
# Refuse authorization requests that name no MCP server (RFC 8707 resource); off: such tokens are
# accepted by every server of the user's account.
OAUTH_REQUIRE_RESOURCE = envbool("OAUTH_REQUIRE_RESOURCE", False)
OAUTH2_PROVIDER = {
    "PKCE_REQUIRED": True,
    "SCOPES": {
        "/acs/mcp-server": "Use MCP servers of your account",
        "openapiexplorer": "Manage MCP servers (management API)",
    },
    "DEFAULT_SCOPES": ["/acs/mcp-server"],
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": envint("OAUTH_CODE_SECONDS", 60),
    "ACCESS_TOKEN_EXPIRE_SECONDS": envint("OAUTH_ACCESS_TOKEN_SECONDS", 3600),
    "REFRESH_TOKEN_EXPIRE_SECONDS": envint("OAUTH_REFRESH_TOKEN_SECONDS", 30 * 24 * 3600),
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https", *OAUTH_REDIRECT_SCHEMES],
    "ALLOW_LOCALHOST_LOOPBACK": True,
    "OAUTH2_BACKEND_CLASS": "oauth.authserver.views.OAuthLibCore",
    # RFC 8414 metadata: what MCP clients may use (public clients authenticate with "none").
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_GRANT_TYPES_SUPPORTED": ["authorization_code", "refresh_token"],
    "OAUTH2_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": ["none", "client_secret_basic", "client_secret_post"],
    # RFC 7591 registration, open to anonymous clients (limits in oauth.authserver.clients).
    "DCR_ENABLED": envbool("OAUTH_DCR_ENABLED", True),
    "DCR_REGISTRATION_PERMISSION_CLASSES": ("oauth2_provider.dcr.AllowAllDCRPermission",),
    "CIMD_ENABLED": envbool("OAUTH_CIMD_ENABLED", True),
    "CIMD_METADATA_FETCHER": "oauth.authserver.cimd.MetadataFetcher",
    # OAuth 2.1 / RFC 9700: no implicit or password grants, PKCE with S256 only, RFC 9207 iss.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
}

# MCP servers: per-account quota of custom servers (429 QuotaExceeded beyond it) and the
# system servers every account gets (the management API as tools, the audit trail).
MAX_SERVERS_PER_ACCOUNT = envint("MAX_SERVERS_PER_ACCOUNT", 100)
SYSTEM_SERVERS = envbool("SYSTEM_SERVERS", True)

# Catalog import from URLs.
IMPORT_MAX_BYTES = envint("IMPORT_MAX_BYTES", 20 * 1024 * 1024)
IMPORT_TIMEOUT_SECONDS = envint("IMPORT_TIMEOUT_SECONDS", 30)
IMPORT_ALLOW_PRIVATE_URLS = envbool("IMPORT_ALLOW_PRIVATE_URLS", False)

# Upstream URLs of connections (servers.outbound): link-local and metadata hosts are always
# refused; loopback and private ones only when allowed (by default in development only).
UPSTREAM_ALLOW_PRIVATE_URLS = envbool("UPSTREAM_ALLOW_PRIVATE_URLS", DEBUG)

# Server fields (servers.server_validation.FieldLimits).
SERVER_MAX_SELECTORS_PER_API = envint("SERVER_MAX_SELECTORS_PER_API", 100)
SERVER_MAX_APIS = envint("SERVER_MAX_APIS", 1000)
TERRAFORM_CODE_MAX_BYTES = envint("TERRAFORM_CODE_MAX_BYTES", 64 * 1024)
TERRAFORM_CHECK_TIMEOUT_SECONDS = envint("TERRAFORM_CHECK_TIMEOUT_SECONDS", 3)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
}
