"""The steps of a runtime build, and the image they end in.

Every step is a container hardened like a run: no network, no capabilities, uid 1000,
read-only root, its own memory, CPU, process and time limits. Only the fetch step gets a
way out, and that is a proxy that opens tunnels to the package indexes alone. Package
code never runs while that way is open:

- Python: `pip download` of wheels only (no build backend runs), then `pip install`
  from those files with no network, then the `additional_python_imports` are imported
  with no network. With SANDBOX_BUILD_ALLOW_SDISTS, pip may also download sdists (their
  metadata hook then runs during the fetch, confined as above) and builds them in the
  install step, with no network.
- JavaScript: `npm install --ignore-scripts`: no package script runs at all.

The image is then made by a Dockerfile that only COPYs the installed files onto the
base image: no RUN step, no network.
"""

from dataclasses import dataclass

from sandbox.builds.indexes import PackageIndexes
from sandbox.languages import Family, family_of_manifest
from sandbox.models import RuntimeRevision

PROXY_PORT = 3128
BUILD_MOUNT = "/build"
RUNTIME_MOUNT = "/opt/runtime"
PROXY_MOUNT = "/run/sandpit"
CA_MOUNT = "/etc/sandpit/build-ca.crt"
PYTHON_TARGET = f"{RUNTIME_MOUNT}/python"
# Every step's command runs under Sandpit's own seccomp filter (no io_uring), as runs do.
NOURING = ["/usr/bin/python3", "-I", "/opt/sandpit/nouring.py", "--"]
FORWARDER = [
    "/usr/bin/python3",
    "-I",
    "/opt/sandpit/forwarder.py",
    str(PROXY_PORT),
    f"{PROXY_MOUNT}/proxy.sock",
    "--",
]
COMMON_ENV = {
    "HOME": f"{BUILD_MOUNT}/home",
    "TMPDIR": f"{BUILD_MOUNT}/tmp",
    "PIP_CONFIG_FILE": "/dev/null",
    "PIP_NO_CACHE_DIR": "1",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    "PIP_NO_INPUT": "1",
    "PIP_PROGRESS_BAR": "off",
    "PIP_ROOT_USER_ACTION": "ignore",
    "npm_config_update_notifier": "false",
    "npm_config_fund": "false",
    "npm_config_audit": "false",
    "npm_config_cache": f"{BUILD_MOUNT}/npm-cache",
    # Fewer sockets than the fetch proxy's cap of open tunnels (egress/tunnel.py), which
    # npm's default would pass on a manifest with a few dependencies.
    "npm_config_maxsockets": "8",
}
PROXY_URL = f"http://127.0.0.1:{PROXY_PORT}"
ONLINE_ENV = {
    "PIP_CERT": CA_MOUNT,
    "npm_config_cafile": CA_MOUNT,
    "npm_config_https_proxy": PROXY_URL,
    "npm_config_proxy": PROXY_URL,
}


@dataclass(frozen=True)
class Step:
    name: str
    command: list[str]
    working_dir: str = BUILD_MOUNT
    # Online steps get the proxy socket (to `hosts` only) and the CA bundle to trust.
    hosts: frozenset[str] = frozenset()
    runtime_writable: bool = False

    @property
    def online(self) -> bool:
        return bool(self.hosts)

    @property
    def env(self) -> dict[str, str]:
        return {**COMMON_ENV, **(ONLINE_ENV if self.online else {})}


def steps(revision: RuntimeRevision, indexes: PackageIndexes, allow_sdists: bool) -> list[Step]:
    if family_of_manifest(revision.manifest_name) is Family.PYTHON:
        return _python_steps(revision, indexes, allow_sdists)
    return [
        Step(
            "install",
            [
                *FORWARDER,
                *("npm", "install", "--omit=dev", "--ignore-scripts", "--no-package-lock"),
                *("--registry", indexes.npm_registry),
            ],
            working_dir=RUNTIME_MOUNT,
            hosts=indexes.npm_hosts,
            runtime_writable=True,
        )
    ]


def _python_steps(
    revision: RuntimeRevision, indexes: PackageIndexes, allow_sdists: bool
) -> list[Step]:
    pip = ["/usr/bin/python3", "-I", "-m", "pip"]
    manifest = f"{BUILD_MOUNT}/requirements.txt"
    binaries = ["--prefer-binary"] if allow_sdists else ["--only-binary", ":all:"]
    fetch = Step(
        "fetch",
        [
            *FORWARDER,
            *(*pip, "download", "--dest", f"{BUILD_MOUNT}/wheels", *binaries),
            *("--index-url", indexes.pip_index_url, "-r", manifest),
        ],
        hosts=indexes.pip_hosts,
    )
    install = Step(
        "install",
        [*pip, "install", "--no-index", "--find-links", f"{BUILD_MOUNT}/wheels", *binaries]
        + (["--no-build-isolation"] if allow_sdists else [])
        + ["--break-system-packages", "--target", PYTHON_TARGET, "-r", manifest],
        runtime_writable=True,
    )
    modules = revision.preload_modules()
    if not modules:
        return [fetch, install]
    check = Step(
        "check imports",
        [
            "/usr/bin/python3",
            "-I",
            "-c",
            "import importlib, site, sys; site.addsitedir(sys.argv[1]); "
            "[importlib.import_module(m) for m in sys.argv[2:]]",
            PYTHON_TARGET,
            *modules,
        ],
    )
    return [fetch, install, check]


def dockerfile(revision: RuntimeRevision) -> str:
    """The image: the base, plus the installed files. No RUN step, so nothing runs."""
    lines = ["ARG BASE", "FROM ${BASE}", f"COPY runtime/ {RUNTIME_MOUNT}/"]
    if family_of_manifest(revision.manifest_name) is Family.PYTHON:
        preload = " ".join(revision.preload_modules())  # module names, checked: no quotes
        lines.append(f'ENV SANDPIT_SITE_DIR={PYTHON_TARGET} SANDPIT_PRELOAD="{preload}"')
    else:
        lines.append(f"ENV NODE_PATH={RUNTIME_MOUNT}/node_modules")
    return "\n".join(lines) + "\n"
