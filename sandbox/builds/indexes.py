"""Where a build's packages may come from: the package indexes, and nothing else.

By default these are the indexes the image's own pip and npm use out of the box, asked
of them once per base image (so no host name is written here); settings can name others.
"""

from dataclasses import dataclass
from urllib.parse import urlsplit

# Asked inside a container with no network: pip's and npm's built-in defaults.
PROBE_COMMAND = [
    "/bin/sh",
    "-c",
    "python3 -I -c 'from pip._internal.models.index import PyPI as p; "
    'print("pip-index", p.simple_url); print("pip-files", p.file_storage_domain)\' && '
    'echo "npm-registry $(HOME=/tmp npm_config_cache=/tmp/npm npm config get registry)"',
]


@dataclass(frozen=True)
class PackageIndexes:
    pip_index_url: str
    pip_hosts: frozenset[str]
    npm_registry: str
    npm_hosts: frozenset[str]


def host_of(url: str) -> str:
    host = urlsplit(url).hostname or ""
    if not host or urlsplit(url).scheme != "https":
        raise ValueError(f"{url!r} is not an https:// URL")
    return host.lower().rstrip(".")


def package_indexes(
    probe_output: str, *, pip_index_url: str, npm_registry: str, extra_hosts: str
) -> PackageIndexes:
    """The indexes: settings where given, else the probe's defaults; ValueError if unusable."""
    said = dict(
        line.strip().split(" ", 1) for line in probe_output.splitlines() if line.count(" ") == 1
    )
    found = [said.get(k, "") for k in ("pip-index", "pip-files", "npm-registry")]
    if not all(found):
        raise ValueError(f"the image did not say which package indexes it uses: {said!r}")
    extra = frozenset(h.strip().lower() for h in extra_hosts.split(",") if h.strip())
    if pip_index_url:
        pip_hosts = frozenset({host_of(pip_index_url)})
    else:
        pip_index_url = found[0]
        pip_hosts = frozenset({host_of(found[0]), found[1].lower()})
    npm_registry = npm_registry or found[2]
    return PackageIndexes(
        pip_index_url=pip_index_url,
        pip_hosts=pip_hosts | extra,
        npm_registry=npm_registry,
        npm_hosts=frozenset({host_of(npm_registry)}) | extra,
    )
