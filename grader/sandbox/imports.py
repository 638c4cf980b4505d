"""Imports after the uid switch (root without namespaces): modules under sys.path
directories the new uid cannot reach (e.g. a Python installed under /root, mode 700)
are read through directory fds opened before the switch."""
from __future__ import annotations

import importlib.machinery
import importlib.util
import io
import os
import shutil
import stat
import sys


class _FdSourceLoader(importlib.machinery.SourceFileLoader):
    """Reads a module (and its cached bytecode) through a directory fd opened as root."""

    def __init__(self, fullname, path, finder):
        super().__init__(fullname, path)
        self._finder = finder

    def get_data(self, path):
        loc = self._finder.locate(path)
        if loc is None:
            return super().get_data(path)
        fd = os.open(loc[1], os.O_RDONLY, dir_fd=loc[0])
        try:
            with io.FileIO(fd, "rb", closefd=False) as f:
                return f.read()
        finally:
            os.close(fd)

    def path_stats(self, path):
        loc = self._finder.locate(path)
        if loc is None:
            return super().path_stats(path)
        st = os.stat(loc[1], dir_fd=loc[0])
        return {"mtime": st.st_mtime, "size": st.st_size}

    def set_data(self, path, data, *, _mode=0o666):
        pass                            # never write bytecode caches


class _FdFinder:
    """Last entry of sys.meta_path in a child that switched uid: finds modules under
    sys.path directories the new uid cannot reach (e.g. a Python installed under
    /root, mode 700) through directory fds opened before the switch.  Extension
    modules are copied to a directory the child owns and loaded from there."""

    def __init__(self, roots: dict[str, int], ext_dir: str):
        self.roots = roots
        self.ext_dir = ext_dir

    def locate(self, path: str):
        for root, fd in self.roots.items():
            if path == root:
                return fd, "."
            if path.startswith(root + "/"):
                return fd, path[len(root) + 1:]
        return None

    @staticmethod
    def _is_file(rel: str, fd: int) -> bool:
        try:
            return stat.S_ISREG(os.stat(rel, dir_fd=fd).st_mode)
        except OSError:
            return False

    def find_spec(self, fullname, path=None, target=None):
        last = fullname.rpartition(".")[2]
        for d in (list(self.roots) if path is None else list(path)):
            loc = self.locate(d) if isinstance(d, str) else None
            if loc is None:
                continue
            fd, rel = loc
            base = last if rel == "." else f"{rel}/{last}"
            if self._is_file(f"{base}/__init__.py", fd):
                origin = f"{d}/{last}/__init__.py"
                return importlib.util.spec_from_file_location(
                    fullname, origin, loader=_FdSourceLoader(fullname, origin, self),
                    submodule_search_locations=[f"{d}/{last}"])
            if self._is_file(f"{base}.py", fd):
                origin = f"{d}/{last}.py"
                return importlib.util.spec_from_file_location(
                    fullname, origin, loader=_FdSourceLoader(fullname, origin, self))
            for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                if self._is_file(base + suffix, fd):
                    copy = os.path.join(self.ext_dir, fullname + suffix)
                    if not os.path.exists(copy):
                        src = os.open(base + suffix, os.O_RDONLY, dir_fd=fd)
                        try:
                            with io.FileIO(src, "rb", closefd=False) as f, open(copy, "wb") as g:
                                shutil.copyfileobj(f, g)
                        finally:
                            os.close(src)
                    return importlib.util.spec_from_file_location(
                        fullname, copy,
                        loader=importlib.machinery.ExtensionFileLoader(fullname, copy))
        return None


def open_path_dirs() -> dict[str, int]:
    """Before the uid switch: a directory fd for every sys.path directory."""
    fds = {}
    for p in sys.path:
        if isinstance(p, str) and os.path.isabs(p):
            p = os.path.normpath(p)
            if p not in fds:
                try:
                    fds[p] = os.open(p, os.O_RDONLY | os.O_DIRECTORY)
                except OSError:
                    pass
    return fds


def install_fd_finder(fds: dict[str, int], ext_dir: str) -> None:
    """After the uid switch: keep the fds of the directories we can no longer reach."""
    roots = {}
    for p, fd in fds.items():
        if os.access(p, os.R_OK | os.X_OK):
            os.close(fd)
        else:
            roots[p] = fd
    if roots:
        sys.meta_path.append(_FdFinder(roots, ext_dir))


