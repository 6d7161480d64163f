"""Files only their owner may read (keys), written whole or not at all."""

import os
import tempfile
from pathlib import Path


def write_private(path: Path, data: bytes) -> None:
    """Replace `path` with `data`, mode 0600, atomically: a reader sees the old file or
    the new one, never half of one, and never a moment it was readable by others."""
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    except BaseException:
        os.close(fd)
        os.unlink(partial)
        raise
    os.close(fd)
    os.replace(partial, path)
