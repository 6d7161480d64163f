"""A seccomp filter of Sandpit's own, stacked on Docker's default: no io_uring.

Docker's default profile (20.10) lets io_uring_setup through, and io_uring has been the
door of many kernel exploits. The filter makes io_uring_setup, io_uring_enter and
io_uring_register fail with ENOSYS, as on a kernel without io_uring, so that runtimes
that try it (libuv in Node) fall back quietly. Filters are inherited and cannot be
removed: whatever the code starts stays under it.

    nouring.py -- <command...>    install the filter, then exec the command

The supervisor imports install() for the worker it starts.
"""

import ctypes
import os
import sys

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
ENOSYS = 38
# io_uring_setup, _enter and _register share these numbers on every architecture that
# uses the common syscall table (x86_64, i386, arm64, ...).
IO_URING_FIRST, IO_URING_LAST = 425, 427
X32_SYSCALL_BIT = 0x40000000
# Classic BPF opcodes.
LD_W_ABS = 0x20
ALU_AND_K = 0x54
JGE_K = 0x35
JGT_K = 0x25
RET_K = 0x06


class SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_ushort),
        ("jt", ctypes.c_ubyte),
        ("jf", ctypes.c_ubyte),
        ("k", ctypes.c_uint32),
    ]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]


PROGRAM = [
    (LD_W_ABS, 0, 0, 0),  # the syscall number (seccomp_data.nr)
    (ALU_AND_K, 0, 0, 0xFFFFFFFF & ~X32_SYSCALL_BIT),  # x32 numbers too
    (JGE_K, 0, 2, IO_URING_FIRST),  # below: allow
    (JGT_K, 1, 0, IO_URING_LAST),  # above: allow
    (RET_K, 0, 0, SECCOMP_RET_ERRNO | ENOSYS),
    (RET_K, 0, 0, SECCOMP_RET_ALLOW),
]


def install() -> None:
    """Install the filter on this process (and so on all it starts); OSError if refused."""
    libc = ctypes.CDLL(None, use_errno=True)
    instructions = (SockFilter * len(PROGRAM))(*(SockFilter(*i) for i in PROGRAM))
    program = SockFprog(len(PROGRAM), instructions)
    for args in (
        (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0),
        (PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(program), 0, 0),
    ):
        if libc.prctl(*(ctypes.c_ulong(a) for a in args)) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"prctl{args[:2]}: {os.strerror(errno)}")


def main() -> None:
    if sys.argv[1:2] != ["--"] or len(sys.argv) < 3:
        sys.stderr.write(__doc__ or "")
        sys.exit(2)
    install()
    os.execvp(sys.argv[2], sys.argv[2:])


if __name__ == "__main__":
    main()
