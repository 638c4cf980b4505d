"""Which isolation this machine gives student code, and how the zygote is launched.

Modes, best first (detect() picks one once per process):

namespaces  bubblewrap works: the zygote runs inside it and every notebook gets new
            user (unless root), mount, pid, net, ipc and uts namespaces of its own.
            It sees the Python runtime read-only and a private tmpfs; no network;
            nothing outlives it.  As root the child also runs as a uid of its own.
uid         root, but no namespaces (a container without user namespaces or
            CAP_SYS_ADMIN, e.g. Gradescope): a uid of its own per concurrent sandbox,
            the network cut by seccomp, course files readable by root only; files it
            leaves in the shared temp folders and its processes are removed after it.
none        only with an explicit --unsafe-no-isolation: student code runs as the
            grader's user; every result says so.

A normal user without namespaces gets IsolationUnavailable with what is missing."""
from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .outcomes import IsolationUnavailable

HARNESS = "/run/nn-harness"           # where the child's own code is mounted, read-only
_PACKAGE = Path(__file__).resolve().parents[1]      # the grader package
UNSAFE_ENV = "NN_INTRO_UNSAFE_NO_ISOLATION"
FORCE_ENV = "NN_INTRO_ISOLATION"    # tests: force "uid" (as root) or "none" (with unsafe)

DESCRIPTIONS = {
    "namespaces": "namespaces (bubblewrap): private file system view, no network, "
                  "own pid namespace per notebook",
    "uid": "root without namespaces: own uid per sandbox, file access limited by Landlock, "
           "network cut by seccomp",
    "none": "NONE: graded with --unsafe-no-isolation; student code ran as the grader's user",
}


@dataclass(frozen=True)
class Isolation:
    mode: str               # "namespaces" | "uid" | "none"
    detail: str = ""        # why this mode (e.g. what bubblewrap said)

    @property
    def description(self) -> str:
        return DESCRIPTIONS[self.mode] + (f" ({self.detail})" if self.detail else "")


_detected: Isolation | None = None
_hidden: set[str] = set()


def hide(*paths) -> None:
    """Paths the sandbox must never see even if they lie inside the Python runtime
    (a course root or references file installed next to the packages)."""
    for p in paths:
        _hidden.add(os.path.realpath(str(p)))


def unsafe_allowed() -> bool:
    return os.environ.get(UNSAFE_ENV, "") not in ("", "0")


def detect(allow_unsafe: bool | None = None) -> Isolation:
    """The best mode this machine gives; raises IsolationUnavailable (one line: what is
    missing and what to do) when it gives none and unsafe grading was not asked for."""
    global _detected
    if allow_unsafe is None:
        allow_unsafe = unsafe_allowed()
    if _detected is not None:
        return _detected
    root = os.geteuid() == 0
    forced = os.environ.get(FORCE_ENV, "")
    if forced == "none":
        if not allow_unsafe:
            raise IsolationUnavailable(f"{FORCE_ENV}=none needs --unsafe-no-isolation")
        _detected = Isolation("none", "forced")
    elif forced == "uid":
        if not root:
            raise IsolationUnavailable(f"{FORCE_ENV}=uid needs root")
        _detected = Isolation("uid", "forced")
    elif forced not in ("", "namespaces"):
        raise IsolationUnavailable(f"{FORCE_ENV} must be namespaces, uid or none, not {forced!r}")
    else:
        why = probe_bwrap()
        if why is None:
            _detected = Isolation("namespaces")
        elif forced == "namespaces":
            raise IsolationUnavailable(f"cannot isolate student code with namespaces: {why}")
        elif root:
            from . import landlock
            v = landlock.abi()
            _detected = Isolation("uid", why + (f"; Landlock ABI {v}" if v else "; no Landlock: "
                                                "files in the shared temp folders are visible "
                                                "to concurrent students"))
        elif allow_unsafe:
            _detected = Isolation("none", why)
        else:
            raise IsolationUnavailable(
                f"cannot isolate student code: {why}; or grade at your own risk with "
                f"--unsafe-no-isolation")
    return _detected


def reset() -> None:
    """Forget the detected mode (tests)."""
    global _detected
    _detected = None


def bwrap_path() -> str | None:
    return os.environ.get("NN_INTRO_BWRAP") or shutil.which("bwrap")


def probe_bwrap() -> str | None:
    """None if bubblewrap can build our sandbox here, else why not (one line)."""
    if not sys.platform.startswith("linux"):
        return "student code can only be isolated on Linux"
    if bwrap_path() is None:
        return ("bubblewrap (bwrap) is not installed: install it (Debian/Ubuntu: "
                "apt-get install bubblewrap; Fedora: dnf install bubblewrap)")
    true = shutil.which("true", path="/usr/bin:/bin")
    if true:        # cheap (~10 ms); the zygote's start and self-test prove the rest
        cmd = bwrap_command(["ok"], program="/bin/sh", shell=f"{true} && echo ok")
    else:
        cmd = bwrap_command(["-I", "-S", "-c", "print('ok')"])
    try:
        r = subprocess.run(cmd, capture_output=True, timeout=60, env=zygote_env())
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bubblewrap did not run ({e})"
    if r.returncode == 0 and r.stdout.strip() == b"ok":
        return None
    lines = r.stderr.decode("utf-8", "replace").strip().splitlines()
    said = lines[-1] if lines else f"exit status {r.returncode}"
    hint = ""
    if os.geteuid() != 0:
        hint = ("; unprivileged user namespaces are disabled or restricted here "
                "(Ubuntu 24.04: an administrator loads AppArmor's bwrap-userns-restrict "
                "profile, or sets kernel.apparmor_restrict_unprivileged_userns=0; elsewhere "
                "user.max_user_namespaces must be > 0)")
    return f"bubblewrap cannot create namespaces here ({said}){hint}"


def zygote_env() -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items()
            if k in ("PATH", "LANG", "LANGUAGE", "TZ", "TERM", "NN_SANDBOX_DEBUG")
            or k.startswith(("LC_", "NN_INTRO_"))}
    keep.update(HOME="/sandbox", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
                MKL_NUM_THREADS="1", MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
    keep.pop(UNSAFE_ENV, None)
    return keep


def runtime_roots() -> list[str]:
    """The directories of the Python runtime and its packages, outermost only."""
    found = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))}
    try:
        found.update(site.getsitepackages())
    except AttributeError:
        pass
    import numpy
    found.add(os.path.dirname(os.path.dirname(numpy.__file__)))
    real = sorted({os.path.realpath(p) for p in found if p and os.path.isdir(p)})
    out: list[str] = []
    for p in real:
        if p == "/" or any(p == q or p.startswith(q.rstrip("/") + "/") for q in out):
            continue
        out.append(p)
    # also the unresolved prefixes (a venv's symlinks must resolve inside the sandbox)
    for p in (sys.prefix, sys.base_prefix):
        if os.path.isdir(p) and p not in out and os.path.realpath(p) in out and p != os.path.realpath(p):
            out.append(p)
    return out


_landlock_paths: dict | None = None


def landlock_paths() -> dict:
    """uid mode: what the child may read (the runtime, system libraries) and the devices
    it may read and write; everything else of the file system is out of its reach."""
    global _landlock_paths
    if _landlock_paths is None:
        read = ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc/ld.so.cache",
                "/etc/localtime", "/proc", *runtime_roots()]
        _landlock_paths = {"read": [p for p in read if os.path.exists(p)],
                           "devices": ["/dev/null", "/dev/zero", "/dev/full", "/dev/random",
                                       "/dev/urandom"]}
    return _landlock_paths


def bwrap_command(python_args: list[str], program: str | None = None, shell: str = "") -> list[str]:
    """bwrap's arguments, then our Python with python_args (or /bin/sh -c shell)."""
    root = os.geteuid() == 0
    cmd = [bwrap_path() or "bwrap", "--die-with-parent", "--new-session",
           "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
           "--unshare-cgroup-try"]
    if root:
        # The zygote stays root (no user namespace): its wardens make the notebook's
        # namespaces and the child switches to a uid of its own; these are the only
        # capabilities kept, and the child gives up all of them.
        for cap in ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_CHOWN", "CAP_SYS_PTRACE",
                    "CAP_KILL"):
            cmd += ["--cap-add", cap]
    else:
        cmd += ["--unshare-user"]
    for top in ("usr",):
        cmd += ["--ro-bind", f"/{top}", f"/{top}"]
    for top in ("lib", "lib64", "lib32", "bin", "sbin"):
        path = f"/{top}"
        if os.path.islink(path):
            cmd += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            cmd += ["--ro-bind", path, path]
    for f in ("/etc/ld.so.cache", "/etc/localtime", "/etc/nsswitch.conf"):
        if os.path.exists(f):
            cmd += ["--ro-bind", f, f]
    roots = [r for r in runtime_roots() if not r.startswith("/usr/")]
    # bubblewrap makes missing parents mode 0700: a uid switched to could not pass them
    parents = sorted({str(a) for r in roots + [HARNESS + "/grader"] for a in Path(r).parents
                      if str(a) != "/"})
    for d in parents:
        cmd += ["--perms", "0755", "--dir", d]
    for r in roots:
        if os.path.islink(r):
            cmd += ["--symlink", os.readlink(r), r]
        else:
            cmd += ["--ro-bind", r, r]
    # our own code, and nothing else of the grader's package
    for hidden in sorted(_hidden | {str(_PACKAGE)}):
        if os.path.isdir(hidden) and any(hidden.startswith(r.rstrip("/") + "/") for r in roots + ["/usr"]):
            cmd += ["--tmpfs", hidden]
        elif os.path.isfile(hidden) and any(hidden.startswith(r.rstrip("/") + "/") for r in roots + ["/usr"]):
            cmd += ["--ro-bind", "/dev/null", hidden]
    cmd += ["--perms", "0755", "--dir", f"{HARNESS}/grader",
            "--ro-bind", str(_PACKAGE / "__init__.py"), f"{HARNESS}/grader/__init__.py",
            "--ro-bind", str(_PACKAGE / "wire.py"), f"{HARNESS}/grader/wire.py",
            "--ro-bind", str(_PACKAGE / "sandbox"), f"{HARNESS}/grader/sandbox"]
    debug = os.environ.get("NN_SANDBOX_DEBUG")
    if debug:                       # a developer's traceback file, writable from inside
        folder = os.path.dirname(os.path.abspath(debug))
        cmd += ["--bind", folder, folder]
    cmd += ["--proc", "/proc", "--dev", "/dev", "--dir", "/tmp", "--dir", "/var/tmp",
            "--dir", "/sandbox", "--remount-ro", "/", "--chdir", "/sandbox",
            "--"]
    if program and shell:
        return cmd + [program, "-c", shell]
    return cmd + [sys.executable, *python_args]
