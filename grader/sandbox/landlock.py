"""Landlock (Linux >= 5.13, unprivileged): in uid mode, where no mount namespace can hide
the file system, the child may read only the Python runtime and system libraries and
write only its work dir; with ABI >= 4 it may not bind or connect TCP sockets, and with
ABI >= 6 it may not signal processes outside its own domain or reach abstract unix
sockets.  Written against the kernel's UAPI (linux/landlock.h) with ctypes."""
from __future__ import annotations

import ctypes
import os
import struct

from .posix import libc

_CREATE, _ADD_RULE, _RESTRICT = 444, 445, 446          # the same on x86_64 and aarch64
_VERSION = 1                                           # LANDLOCK_CREATE_RULESET_VERSION
_PATH_BENEATH = 1

_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
_NET_TCP = 1 | 2                                       # BIND_TCP | CONNECT_TCP
_SCOPE_ALL = 1 | 2                                     # ABSTRACT_UNIX_SOCKET | SIGNAL
_READ = _EXECUTE | _READ_FILE | _READ_DIR
_FILE_RIGHTS = _EXECUTE | _WRITE_FILE | _READ_FILE | (1 << 14)   # rights a file rule may hold


def abi() -> int:
    """The kernel's Landlock ABI version, 0 when there is none (or it is filtered out)."""
    if libc is None:
        return 0
    v = libc.syscall(_CREATE, None, ctypes.c_size_t(0), ctypes.c_uint32(_VERSION))
    return max(0, v)


def _fs_rights(version: int) -> int:
    return _FS_BY_ABI[max(k for k in _FS_BY_ABI if k <= version)]


def prepare(readable: list[str], writable: list[str], devices: list[str]) -> int:
    """The ruleset's fd (-1 if Landlock is unavailable).  Call it before a uid switch: the
    paths are opened now, as whoever may still reach them."""
    version = abi()
    if version <= 0:
        return -1
    fs = _fs_rights(version)
    attr = struct.pack("<Q", fs)
    if version >= 4:
        attr += struct.pack("<Q", _NET_TCP)
    if version >= 6:
        attr += struct.pack("<Q", _SCOPE_ALL)
    buf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = libc.syscall(_CREATE, buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        for paths, rights in ((readable, _READ), (writable, fs), (devices, _READ_FILE | _WRITE_FILE)):
            for path in paths:
                try:
                    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue
                try:
                    allowed = rights & fs
                    if not os.path.isdir(path):
                        allowed &= _FILE_RIGHTS
                    rule = ctypes.create_string_buffer(struct.pack("<Qi", allowed, fd), 12)
                    if libc.syscall(_ADD_RULE, ruleset, _PATH_BENEATH, rule, ctypes.c_uint32(0)) != 0:
                        raise OSError(ctypes.get_errno(), f"landlock_add_rule {path} failed")
                finally:
                    os.close(fd)
    except BaseException:
        os.close(ruleset)
        raise
    return ruleset


def enforce(ruleset: int) -> None:
    """Apply a prepared ruleset to this process and all it starts (needs
    PR_SET_NO_NEW_PRIVS first)."""
    try:
        if libc.syscall(_RESTRICT, ruleset, ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
