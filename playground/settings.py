"""Sandpit's one settings module: every knob comes from the environment, with defaults
that run on a laptop (SQLite, the in-memory channel layer, a local Docker engine)."""

import ipaddress
import secrets
from pathlib import Path

from playground.env import (
    database_from_url,
    envbool,
    envchoice,
    envfloat,
    envint,
    envjson,
    envstr,
)

BASE_DIR = Path(__file__).resolve().parent.parent
STATE_DIR = Path(envstr("SANDPIT_STATE_DIR", str(BASE_DIR / ".sandpit")))
# Made on first use, whatever else is set, and private: it holds the database, the
# secret key and the build folders.
STATE_DIR.mkdir(parents=True, exist_ok=True)
STATE_DIR.chmod(0o700)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one made on first start and kept in STATE_DIR."""
    key = envstr("SECRET_KEY", "")
    if key:
        return key
    path = STATE_DIR / "secret_key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = envbool("DEBUG", False)
ALLOWED_HOSTS = envstr("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "ninja",  # serves the API docs page's assets itself, not from a CDN
    "sandbox",
    "playground",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "playground.web.static_files.StaticFiles",
    "playground.cluster.health.RequestMetrics",
    "playground.cluster.faults.DatabaseUnavailable",
    "playground.api.guard.ApiBodyGuard",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "playground.urls"
ASGI_APPLICATION = "playground.asgi.application"

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

# DATABASE_URL (postgres://user:password@host:port/name) selects PostgreSQL, shared by
# every node; unset, one node keeps SQLite in its state folder.
DATABASE_URL = envstr("DATABASE_URL", "")
DATABASES = {
    "default": database_from_url(DATABASE_URL)
    if DATABASE_URL
    else {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": envstr("SQLITE_PATH", str(STATE_DIR / "db.sqlite3")),
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            # WAL lets readers run beside the writer, and NORMAL syncs at checkpoints,
            # not at every commit: two writes per run no longer cost two fsyncs.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = envstr("REDIS_URL", "")
if REDIS_URL:
    # Many nodes: any node's socket can stream any run, and every node counts the same
    # rate limits (Django's cache) and sees every live run's output so far.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # Longer than the layer's 5 s blocking pop: redis-py 8's default socket
            # timeout equals it, and a waiting receive() would time out instead.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15}]},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = STATE_DIR / "staticfiles"
# Runs' output files: a folder of the state directory by default; any Django storage
# (an S3-compatible bucket through django-storages, when nodes sit on several hosts) by
# naming its backend and options in SANDPIT_ARTIFACTS_STORAGE (JSON).
ARTIFACTS_STORAGE = envjson(
    "SANDPIT_ARTIFACTS_STORAGE",
    {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(STATE_DIR / "artifacts")},
    },
)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "artifacts": ARTIFACTS_STORAGE,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "sandbox": {"handlers": ["console"], "level": envstr("SANDBOX_LOG_LEVEL", "INFO")},
    },
}

# --- The sandbox engine -------------------------------------------------------------
# Containers of this instance carry its name as a label; at start-up the engine removes
# the ones a crashed server of the same name left behind. Two servers sharing one Docker
# engine need two names.
SANDBOX_INSTANCE = envstr("SANDBOX_INSTANCE", "sandpit")
# Started containers kept waiting per image and language family (Python / Node).
SANDBOX_POOL_SIZE = envint("SANDBOX_POOL_SIZE", 2, minimum=0)
# A pool grows with the runs it sees up to this, and shrinks back to SANDBOX_POOL_SIZE
# after a quiet spell (sandbox/demand.py).
SANDBOX_POOL_MAX = envint("SANDBOX_POOL_MAX", 8, minimum=0)
# Runs at once, and runs allowed to wait for a slot; past both the engine is "busy".
SANDBOX_MAX_CONCURRENT_RUNS = envint("SANDBOX_MAX_CONCURRENT_RUNS", 8, minimum=1)
SANDBOX_MAX_QUEUED_RUNS = envint("SANDBOX_MAX_QUEUED_RUNS", 32, minimum=0)
# Runs in progress (going or waiting) of one owner; 0 sets no cap of its own. Either way
# one owner never holds the last slot in eight nor the last quarter of the waiting line,
# which are kept for other owners (sandbox/admission.py).
SANDBOX_MAX_RUNS_PER_TENANT = envint("SANDBOX_MAX_RUNS_PER_TENANT", 0, minimum=0)
SANDBOX_MAX_TIMEOUT_S = envint("SANDBOX_MAX_TIMEOUT_S", 300, minimum=1)
SANDBOX_MAX_MEMORY_MIB = envint("SANDBOX_MAX_MEMORY_MIB", 2048, minimum=16)
# Kept per stream (stdout, stderr); past it the rest is dropped behind a marker.
SANDBOX_MAX_OUTPUT_BYTES = envint("SANDBOX_MAX_OUTPUT_BYTES", 1024 * 1024, minimum=1024)
SANDBOX_CPUS_PER_RUN = envfloat("SANDBOX_CPUS_PER_RUN", 1.0, minimum=0.1)
SANDBOX_PIDS_PER_RUN = envint("SANDBOX_PIDS_PER_RUN", 128, minimum=8)
# The OCI runtime of every sandbox: "auto" takes crun where the engine declares it and it
# starts a sandbox, else runc (sandbox/docker/oci.py says why, and /readyz says which);
# a name ("crun", "runc", "runsc" for gVisor) must be declared by the engine.
SANDBOX_DOCKER_RUNTIME = envstr("SANDBOX_DOCKER_RUNTIME", "auto")
SANDBOX_DOCKER_TIMEOUT_S = envint("SANDBOX_DOCKER_TIMEOUT_S", 30, minimum=1)
# What starts run sandboxes: "docker" (with the runtime above), or "crun" driven directly,
# without dockerd, containerd and a shim per sandbox, with the same hardening
# (sandbox/crun/); images and runtime builds stay Docker's either way.
SANDBOX_BACKEND = envchoice("SANDBOX_BACKEND", "docker", ("docker", "crun"))
SANDBOX_DEBIAN_MIRROR = envstr("SANDBOX_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SANDBOX_STATE_DIR = STATE_DIR / "sandbox"
# What a run may give back besides its output (sandbox/limits.py says why these): display()
# results, a number and bytes in all; and files kept by output_files.
SANDBOX_RESULTS_MAX = envint("SANDBOX_RESULTS_MAX", 32, minimum=0)
SANDBOX_RESULTS_MAX_BYTES = envint("SANDBOX_RESULTS_MAX_BYTES", 4 * 1024 * 1024, minimum=1024)
SANDBOX_OUTPUT_FILES_MAX = envint("SANDBOX_OUTPUT_FILES_MAX", 32, minimum=0)
SANDBOX_OUTPUT_FILE_MAX_BYTES = envint(
    "SANDBOX_OUTPUT_FILE_MAX_BYTES", 10 * 1024 * 1024, minimum=1024
)
SANDBOX_OUTPUT_FILES_MAX_BYTES = envint(
    "SANDBOX_OUTPUT_FILES_MAX_BYTES", 32 * 1024 * 1024, minimum=1024
)
# What one owner's runs may keep in files, in all (MiB); past it a run's files are listed
# as skipped. A guest's far less: anyone may be one, many times over.
SANDPIT_FILES_QUOTA_MIB = envint("SANDPIT_FILES_QUOTA_MIB", 1024, minimum=0)
PLAYGROUND_GUEST_FILES_QUOTA_MIB = envint("PLAYGROUND_GUEST_FILES_QUOTA_MIB", 16, minimum=0)

# --- The API ------------------------------------------------------------------------
# A request body past this is a 413: the engine's own caps (code, stdin, files) fit.
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("MAX_REQUEST_BYTES", 48 * 1024 * 1024, minimum=1024)
# JSON values in one body (array items and object members, nested ones included): a wide
# array costs far more to parse and hold than its bytes say.
MAX_REQUEST_ELEMENTS = envint("MAX_REQUEST_ELEMENTS", 100_000, minimum=100)

# What a run's record keeps of its request's stdin, args, files and input, in all; the
# rest is cut with a marker (the code is kept whole: it is at most 1 MiB).
SANDPIT_MAX_STORED_REQUEST_BYTES = envint(
    "SANDPIT_MAX_STORED_REQUEST_BYTES", 256 * 1024, minimum=1024
)
# What one page of /v1/executions may carry; a page that would be larger ends early
# (with one execution at least), and the client asks for the next.
SANDPIT_MAX_LIST_PAGE_BYTES = envint("SANDPIT_MAX_LIST_PAGE_BYTES", 16 * 1024 * 1024, minimum=1024)

# --- The playground -----------------------------------------------------------------
# Visitors who are not signed in may run code as a guest of their browser session.
PLAYGROUND_ANONYMOUS = envbool("PLAYGROUND_ANONYMOUS", True)
# Runs a minute per client address for guests; signed-in users are not limited.
PLAYGROUND_GUEST_RUNS_PER_MINUTE = envint("PLAYGROUND_GUEST_RUNS_PER_MINUTE", 30, minimum=1)
# A guest's run request: the editor's code, input and files, far below an API key's.
PLAYGROUND_GUEST_MAX_REQUEST_BYTES = envint(
    "PLAYGROUND_GUEST_MAX_REQUEST_BYTES", 1024 * 1024, minimum=1024
)
PLAYGROUND_GUEST_MAX_REQUEST_ELEMENTS = envint(
    "PLAYGROUND_GUEST_MAX_REQUEST_ELEMENTS", 10_000, minimum=100
)
# A guest's run may ask for no more time and memory than these.
PLAYGROUND_GUEST_MAX_TIMEOUT_S = envint("PLAYGROUND_GUEST_MAX_TIMEOUT_S", 30, minimum=1)
PLAYGROUND_GUEST_MAX_MEMORY_MIB = envint("PLAYGROUND_GUEST_MAX_MEMORY_MIB", 256, minimum=16)
# A guest's notebook sessions: each holds a sandbox while live, so a guest has one at a
# time (a notebook's Restart ends it before opening the next), paused after this long
# idle rather than the API's 600 s.
PLAYGROUND_GUEST_SESSIONS = envint("PLAYGROUND_GUEST_SESSIONS", 1, minimum=1)
PLAYGROUND_GUEST_SESSION_IDLE_S = envint("PLAYGROUND_GUEST_SESSION_IDLE_S", 300, minimum=10)
# Run requests a minute per API key owner: above what one engine serves (about 9 runs a
# second), so a lone user never meets it; a cap on one tenant among many.
SANDPIT_API_RUNS_PER_MINUTE = envint("SANDPIT_API_RUNS_PER_MINUTE", 600, minimum=1)
# Addresses (or networks) of proxies in front of Sandpit whose X-Forwarded-For is
# believed; by default none: client addresses come from the socket.
SANDPIT_TRUSTED_PROXIES = [
    ipaddress.ip_network(item.strip(), strict=False)
    for item in envstr("SANDPIT_TRUSTED_PROXIES", "").split(",")
    if item.strip()
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

# --- Runtime builds -----------------------------------------------------------------
SANDBOX_BUILD_TIMEOUT_S = envint("SANDBOX_BUILD_TIMEOUT_S", 900, minimum=30)
# What the build trusts for TLS: the host's bundle, so that pip and npm work behind a
# TLS-inspecting proxy whose CA the host trusts.
SANDBOX_BUILD_CA_BUNDLE = envstr("SANDBOX_BUILD_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
# Each build step is a container hardened like a run, with these limits.
SANDBOX_BUILD_MEMORY_MIB = envint("SANDBOX_BUILD_MEMORY_MIB", 1024, minimum=128)
SANDBOX_BUILD_CPUS = envfloat("SANDBOX_BUILD_CPUS", 1.0, minimum=0.1)
SANDBOX_BUILD_PIDS = envint("SANDBOX_BUILD_PIDS", 256, minimum=16)
# Disk a build may write (downloads and installed files), and bytes it may fetch.
SANDBOX_BUILD_MAX_MIB = envint("SANDBOX_BUILD_MAX_MIB", 4096, minimum=16)
SANDBOX_BUILD_MAX_DOWNLOAD_MIB = envint("SANDBOX_BUILD_MAX_DOWNLOAD_MIB", 2048, minimum=1)
# Wheels only by default: an sdist's build backend is package code. When allowed, sdists
# are built in the install step, which has no network.
SANDBOX_BUILD_ALLOW_SDISTS = envbool("SANDBOX_BUILD_ALLOW_SDISTS", False)
# The package indexes builds fetch from: by default the ones the image's pip and npm use
# out of the box. Extra hosts (a mirror's file host) are comma-separated names.
SANDBOX_BUILD_PIP_INDEX_URL = envstr("SANDBOX_BUILD_PIP_INDEX_URL", "")
SANDBOX_BUILD_NPM_REGISTRY = envstr("SANDBOX_BUILD_NPM_REGISTRY", "")
SANDBOX_BUILD_INDEX_HOSTS = envstr("SANDBOX_BUILD_INDEX_HOSTS", "")
# "name=ip:port,...": the egress proxies connect there for that name instead of resolving
# it, even when the address is loopback or private: an operator's deliberate exception.
SANDBOX_EGRESS_PIN = envstr("SANDBOX_EGRESS_PIN", "")
# Fernet keys for secrets at rest, comma-separated (the first encrypts); unset, one is made
# in the state folder at first use. See playground/secrets/box.py.
SANDPIT_SECRETS_KEY = envstr("SANDPIT_SECRETS_KEY", "")
# /metrics answers loopback only, unless this token is set: then whoever sends it.
SANDPIT_METRICS_TOKEN = envstr("SANDPIT_METRICS_TOKEN", "")
# Nodes heartbeat every SANDPIT_NODE_HEARTBEAT_S; one silent for SANDPIT_NODE_TIMEOUT_S is
# dead, and a live node ends its unfinished runs (playground/cluster/nodes.py).
SANDPIT_NODE_HEARTBEAT_S = envfloat("SANDPIT_NODE_HEARTBEAT_S", 5.0, minimum=0.1)
SANDPIT_NODE_TIMEOUT_S = envint("SANDPIT_NODE_TIMEOUT_S", 30, minimum=1)
# http.allow: the ports a run may reach ("80,443"), and per run the connections open at
# once and the bytes both ways. Upstream TLS is checked against the host's CA bundle, or
# this file (a machine behind a TLS-inspecting proxy needs its bundle here).
SANDBOX_EGRESS_PORTS = envstr("SANDBOX_EGRESS_PORTS", "80,443")
SANDBOX_EGRESS_MAX_CONNECTIONS = envint("SANDBOX_EGRESS_MAX_CONNECTIONS", 16, minimum=1)
SANDBOX_EGRESS_MAX_MIB = envint("SANDBOX_EGRESS_MAX_MIB", 64, minimum=1)
SANDBOX_EGRESS_CA_BUNDLE = envstr("SANDBOX_EGRESS_CA_BUNDLE", "")
# Warm containers per runtime revision, started on first use and stopped when idle.
SANDBOX_RUNTIME_POOL_SIZE = envint("SANDBOX_RUNTIME_POOL_SIZE", 1, minimum=0)
SANDBOX_RUNTIME_POOL_MAX = envint("SANDBOX_RUNTIME_POOL_MAX", 4, minimum=0)
SANDBOX_RUNTIME_POOL_IDLE_S = envint("SANDBOX_RUNTIME_POOL_IDLE_S", 300, minimum=10)

# --- Sessions (playground/sessions/, sandbox/sessions.py) ---------------------------
# Live sessions (ready, busy or paused) one owner may have; past it, a 429.
SANDPIT_SESSIONS_PER_OWNER = envint("SANDPIT_SESSIONS_PER_OWNER", 4, minimum=1)
# Paused sessions keep their saved files this long, then end.
SANDPIT_SESSION_RETENTION_DAYS = envint("SANDPIT_SESSION_RETENTION_DAYS", 7, minimum=1)
# Sessions' sandboxes one node holds at once (each keeps its memory); past it, a 503.
SANDBOX_MAX_SESSIONS = envint("SANDBOX_MAX_SESSIONS", 32, minimum=1)
# A paused session's sandbox stays frozen this long (its memory kept, no CPU), so that
# waking it soon keeps the interpreter's state; then only its saved files are kept.
SANDBOX_SESSION_FROZEN_S = envint("SANDBOX_SESSION_FROZEN_S", 120, minimum=0)
