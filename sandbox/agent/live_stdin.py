"""A run's stdin as its owner types it (a playground run with live_stdin).

The supervisor's thread writes the job's stdin, then what the engine sends on the
container's stdin after the job (a 4-byte length and its bytes each) until a length of
0 closes it, or the code goes.
"""

import os
import struct
from collections.abc import Callable


def relay(
    fd: int,
    first: bytes,
    read_exactly: Callable[[int, int], bytes],
    write_out: Callable[[int, bytes], None],
) -> None:
    try:
        write_out(fd, first)
        while True:
            (length,) = struct.unpack(">I", read_exactly(0, 4))
            if length == 0:
                break
            write_out(fd, read_exactly(0, length))
    except (OSError, EOFError):
        pass  # the code closed its stdin, or exited
    finally:
        os.close(fd)
