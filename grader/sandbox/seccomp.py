"""A seccomp filter for the student's process, written as classic BPF (no library is
needed to build it). It is the network cut where no network namespace can be had,
and defence in depth where one can:

* socket() of any family but AF_UNIX fails with EACCES (no TCP, UDP, raw, netlink);
* io_uring (which can open sockets without socket()) fails with ENOSYS;
* ptrace, process_vm_readv/writev, keyctl/add_key/request_key, bpf,
  perf_event_open, userfaultfd fail with EPERM;
* new namespaces (unshare, setns, clone with CLONE_NEW*) fail with EPERM and clone3
  with ENOSYS (glibc then falls back to clone, so fork and subprocess still work);
  mount, umount2 and pivot_root fail with EPERM;
* SysV IPC objects cannot be made or opened (shmget, semget, msgget: EPERM), so where
  no IPC namespace can be had concurrent students share none;
* another architecture's system calls (x32, i386 on x86_64) kill the process.

Needs PR_SET_NO_NEW_PRIVS (set by the caller first)."""
from __future__ import annotations

import ctypes
import errno
import os
import struct

from .posix import CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUSER, \
    CLONE_NEWUTS, libc, prctl

_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_NR = {
    "x86_64": dict(socket=41, clone=56, clone3=435, unshare=272, setns=308, ptrace=101,
                   process_vm_readv=310, process_vm_writev=311, keyctl=250, add_key=248,
                   request_key=249, bpf=321, perf_event_open=298, userfaultfd=323,
                   io_uring_setup=425, io_uring_enter=426, io_uring_register=427,
                   mount=165, umount2=166, pivot_root=155, shmget=29, semget=64, msgget=68),
    "aarch64": dict(socket=198, clone=220, clone3=435, unshare=97, setns=268, ptrace=117,
                    process_vm_readv=270, process_vm_writev=271, keyctl=219, add_key=217,
                    request_key=218, bpf=280, perf_event_open=241, userfaultfd=282,
                    io_uring_setup=425, io_uring_enter=426, io_uring_register=427,
                    mount=40, umount2=39, pivot_root=41, shmget=194, semget=190, msgget=186),
}
_EPERM_CALLS = ("unshare", "setns", "ptrace", "process_vm_readv", "process_vm_writev",
                "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
                "mount", "umount2", "pivot_root", "shmget", "semget", "msgget")
_ENOSYS_CALLS = ("clone3", "io_uring_setup", "io_uring_enter", "io_uring_register")
_NS_FLAGS = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET

_LD_W_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW, _KILL = 0x7FFF0000, 0x80000000
_OFF_NR, _OFF_ARCH, _OFF_ARG0 = 0, 4, 16
_AF_UNIX = 1
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2


def _errno(e: int) -> int:
    return 0x00050000 | e


def program(machine: str | None = None) -> list[tuple[int, int, int, int]]:
    """The filter as (code, jt, jf, k) instructions."""
    machine = machine or os.uname().machine
    nr = _NR[machine]
    ins: list[tuple[int, int, int, int]] = [
        (_LD_W_ABS, 0, 0, _OFF_ARCH),
        (_JEQ, 1, 0, _AUDIT_ARCH[machine]),
        (_RET, 0, 0, _KILL),
        (_LD_W_ABS, 0, 0, _OFF_NR),
    ]
    if machine == "x86_64":                        # the x32 ABI sets bit 30
        ins += [(_JGE, 0, 1, 0x40000000), (_RET, 0, 0, _KILL)]
    for name in _EPERM_CALLS:
        ins += [(_JEQ, 0, 1, nr[name]), (_RET, 0, 0, _errno(errno.EPERM))]
    for name in _ENOSYS_CALLS:
        ins += [(_JEQ, 0, 1, nr[name]), (_RET, 0, 0, _errno(errno.ENOSYS))]
    ins += [(_JEQ, 0, 4, nr["socket"]),
            (_LD_W_ABS, 0, 0, _OFF_ARG0),
            (_JEQ, 0, 1, _AF_UNIX),
            (_RET, 0, 0, _ALLOW),
            (_RET, 0, 0, _errno(errno.EACCES))]
    ins += [(_JEQ, 0, 4, nr["clone"]),
            (_LD_W_ABS, 0, 0, _OFF_ARG0),
            (_JSET, 0, 1, _NS_FLAGS),
            (_RET, 0, 0, _errno(errno.EPERM)),
            (_RET, 0, 0, _ALLOW)]
    ins.append((_RET, 0, 0, _ALLOW))
    return ins


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install() -> None:
    """Install the filter on this process (and everything it starts). Raises OSError."""
    ins = program()
    raw = b"".join(struct.pack("<HBBI", *i) for i in ins)
    buf = ctypes.create_string_buffer(raw, len(raw))
    prog = _SockFprog(len(ins), ctypes.cast(buf, ctypes.c_void_p))
    if libc is None or libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER,
                                  ctypes.addressof(prog), 0, 0) != 0:
        err = ctypes.get_errno() if libc is not None else 0
        raise OSError(err, f"seccomp: {os.strerror(err)}")
