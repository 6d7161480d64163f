"""A build's disk: an ext4 image of its own, loop-mounted on the build's folder.

The kernel holds a build to SANDBOX_BUILD_MAX_MIB and to its inodes, whatever the build
does: files unlinked but held open, folders, links and metadata all count, and a write
past the cap fails with ENOSPC in the step that made it. Measuring a host folder from
outside missed all of those (300 MiB held against a 64 MiB cap grew the host by 320 MiB).

Why this and not the others:
- a tmpfs dies with its container, while the steps hand their files on (wheels to the
  install, the installed files to the check and to the image), and it is memory, charged
  to the step: a 4 GiB cap would need 4 GiB of it;
- a project quota needs the host's filesystem mounted with prjquota, which Sandpit cannot
  ask of a host; a loop device needs only root, which the server already is.

The image is sparse, so the host's disk grows by what the build writes, never past the
cap, and it goes when the build ends. Mounting needs root (CAP_SYS_ADMIN) on the host.
"""

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

from sandbox.images import SANDBOX_USER_UID

# One inode per this many bytes of the cap (mkfs' own default ratio), fixed: node_modules
# of thousands of packages fit, and a build cannot spend the cap on empty files.
BYTES_PER_INODE = 16 * 1024
# No journal (the disk lives for one build and is never checked after a crash) and no
# blocks reserved for root (nothing in a build is root): the cap is all the build's.
MKFS = ["mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal"]
# nosuid and nodev: nothing a package writes becomes a setuid program or a device node
# that means anything. Not noexec: installed extension modules are mapped executable.
MOUNT_OPTIONS = "loop,nosuid,nodev,noatime"
DISK_COMMAND_TIMEOUT_S = 60
# Less free than this after a failed step: the step ran out of disk.
FULL_MARGIN_BYTES = 1024 * 1024
# What ENOSPC reads as, in C's, Python's and Node's words alike.
NO_SPACE = "no space left on device"


class DiskUnavailable(Exception):
    """The build's disk could not be made (not root, no loop device, no mkfs.ext4)."""


class BuildDisk:
    """The filesystem mounted on `folder` for one build; `image` beside it holds it."""

    def __init__(self, folder: Path, size_mib: int) -> None:
        self.folder = folder
        self.image = folder.with_name(folder.name + ".ext4")
        self.size_mib = size_mib
        self.inodes = size_mib * 1024 * 1024 // BYTES_PER_INODE
        self.mounted = False

    def mount(self) -> None:
        """Make the image and mount it on the folder, owned by the build's uid."""
        with self.image.open("wb") as image:
            image.truncate(self.size_mib * 1024 * 1024)
        self._run(
            *MKFS,
            "-N",
            str(self.inodes),
            "-E",
            f"root_owner={SANDBOX_USER_UID}:{SANDBOX_USER_UID}",
            str(self.image),
        )
        self._run("mount", "-o", MOUNT_OPTIONS, str(self.image), str(self.folder))
        self.mounted = True
        # fsck's folder: nothing will ever check this filesystem.
        (self.folder / "lost+found").rmdir()

    def hand_over(self) -> None:
        """What the server made at the top of the disk, the sandbox user's: the steps
        run as that user, and the server is root (it mounted the disk)."""
        for path in [self.folder, *self.folder.iterdir()]:
            os.chown(path, SANDBOX_USER_UID, SANDBOX_USER_UID)

    def is_full(self) -> bool:
        """Out of bytes or inodes, or nearly: a step that failed now failed for that."""
        stat = os.statvfs(self.folder)
        return stat.f_bavail * stat.f_frsize < FULL_MARGIN_BYTES or stat.f_favail == 0

    def remove(self) -> None:
        """Unmount, and remove the image and the folder; fine when never mounted."""
        if self.mounted:
            try:
                self._run("umount", str(self.folder))
            except DiskUnavailable:
                # Something still holds it: detach now, the kernel frees it when let go.
                self._run("umount", "--lazy", str(self.folder))
            self.mounted = False
        with contextlib.suppress(FileNotFoundError):
            self.image.unlink()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self, *command: str) -> None:
        try:
            subprocess.run(
                command, check=True, capture_output=True, text=True, timeout=DISK_COMMAND_TIMEOUT_S
            )
        except (OSError, subprocess.SubprocessError) as exc:
            said = getattr(exc, "stderr", "") or str(exc)
            raise DiskUnavailable(f"{command[0]} failed: {said.strip()}") from None
