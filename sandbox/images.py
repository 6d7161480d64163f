"""The base sandbox image, built with no registry: Debian packages, `docker import`, agents.

Two layers, each tagged with a hash of its inputs so that it is rebuilt only when they
change: `sandpit-rootfs:<hash>` (a debootstrap of trixie, the slow part) and
`sandpit-base:<hash>` (that root plus the agent files, seconds to build).
"""

import functools
import hashlib
import logging
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from sandbox.backends import ImageStore

log = logging.getLogger(__name__)

AGENT_DIR = Path(__file__).resolve().parent / "agent"
DEBIAN_SUITE = "trixie"  # Python 3.13 and Node 20
ROOTFS_PACKAGES = ("python3", "nodejs", "ca-certificates")
# For runtime builds (sandbox/builds/), which install on top with pip and npm.
# Installed with apt inside the root afterwards: debootstrap's own resolver cannot
# settle npm's hundred dependencies.
ROOTFS_APT_PACKAGES = ("python3-pip", "npm")
SANDBOX_USER_UID = 1000
# Changes to what build_rootfs does that the package list does not show bump this.
ROOTFS_RECIPE_VERSION = "1"
# Documentation, manuals and translations: nobody reads them in a sandbox.
ROOTFS_PRUNE = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "var/cache/apt/archives",
    "var/lib/apt/lists",
    "var/log",
)
DEBOOTSTRAP_TIMEOUT_S = 1800

Say = Callable[[str], None]


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:16]


def rootfs_image_tag() -> str:
    packages = " ".join(ROOTFS_PACKAGES + ROOTFS_APT_PACKAGES)
    recipe = f"{DEBIAN_SUITE} {packages} uid={SANDBOX_USER_UID} v{ROOTFS_RECIPE_VERSION}"
    return f"sandpit-rootfs:{_digest(recipe.encode())}"


@functools.cache
def base_image_tag() -> str:
    """The tag of the base image that the current agent files make."""
    parts = [rootfs_image_tag().encode()]
    for path in sorted(AGENT_DIR.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            parts += [str(path.relative_to(AGENT_DIR)).encode(), path.read_bytes()]
    return f"sandpit-base:{_digest(*parts)}"


def build_rootfs(store: ImageStore, tag: str, say: Say) -> None:
    """debootstrap trixie into a folder, add the sandbox user, prune, `docker import` it."""
    if shutil.which("debootstrap") is None:
        raise RuntimeError(
            "debootstrap is not installed: apt-get install debootstrap (Debian), then retry"
        )
    with tempfile.TemporaryDirectory(prefix="sandpit-rootfs-") as work:
        root = Path(work) / "root"
        say(f"debootstrap {DEBIAN_SUITE} from {settings.SANDBOX_DEBIAN_MIRROR} (about a minute)")
        done = subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(ROOTFS_PACKAGES)}",
                DEBIAN_SUITE,
                str(root),
                settings.SANDBOX_DEBIAN_MIRROR,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=DEBOOTSTRAP_TIMEOUT_S,
        )
        if done.returncode != 0:
            log_file = root / "debootstrap" / "debootstrap.log"
            tail = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
            raise RuntimeError(f"debootstrap failed: {done.stderr.strip()}\n{tail}")
        apt_install = ["chroot", str(root), "apt-get", "install", "-y", "-q"]
        say(f"apt-get install {' '.join(ROOTFS_APT_PACKAGES)} in the new root")
        subprocess.run(
            [*apt_install, "--no-install-recommends", *ROOTFS_APT_PACKAGES],
            check=True,
            stdout=subprocess.DEVNULL,
            env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            timeout=DEBOOTSTRAP_TIMEOUT_S,
        )
        subprocess.run(
            [
                "chroot",
                str(root),
                "useradd",
                "--uid",
                str(SANDBOX_USER_UID),
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/work",
                "--shell",
                "/usr/sbin/nologin",
                "sandbox",
            ],
            check=True,
        )
        for relative in ROOTFS_PRUNE:
            target = root / relative
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True, exist_ok=True)
        for folder in ("work", "opt/sandpit", "run/sandpit"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        tarball = Path(work) / "rootfs.tar"
        subprocess.run(["tar", "-C", str(root), "-cf", str(tarball), "."], check=True)
        say(f"docker import as {tag}")
        store.import_image(tarball, tag)


def ensure_base_image(store: ImageStore, say: Say = log.info) -> str:
    """Build whatever layer is missing or stale; return the base image's tag."""
    base = base_image_tag()
    if store.image_exists(base):
        return base
    rootfs = rootfs_image_tag()
    if not store.image_exists(rootfs):
        build_rootfs(store, rootfs, say)
    say(f"building {base} from {rootfs}")
    for line in store.build_image(AGENT_DIR, base, buildargs={"ROOTFS": rootfs}):
        log.debug("%s", line)
    return base
