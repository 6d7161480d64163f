"""A build's folder as the host reads it: the image's build context.

The folder was written by package managers and package code: nothing in it is followed
(links stay links) and nothing but folders, links and regular files is read.
"""

import io
import tarfile
from pathlib import Path
from typing import IO


def context_tar(dockerfile: str, runtime_dir: Path, out: IO[bytes]) -> None:
    """Write the final image's build context to `out`: our Dockerfile and runtime/.

    Made here rather than by Docker from a folder, so that nothing a package wrote
    (a Dockerfile, a .dockerignore, a device, a FIFO) can change what is built.
    """
    with tarfile.open(fileobj=out, mode="w") as tar:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for path in sorted(runtime_dir.rglob("*")) if runtime_dir.exists() else []:
            if path.is_symlink() or path.is_dir() or path.is_file():
                entry = tar.gettarinfo(str(path), f"runtime/{path.relative_to(runtime_dir)}")
                entry.uid = entry.gid = 0
                entry.uname = entry.gname = ""
                if entry.isfile():
                    with path.open("rb") as f:
                        tar.addfile(entry, f)
                else:
                    tar.addfile(entry)
    out.seek(0)
