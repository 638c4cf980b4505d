"""Run a command as root of a container without user namespaces or CAP_SYS_ADMIN, like a
Docker or Gradescope container, made on this machine for the tests (run as real root):

    python tests/container.py [--user UID:GID] -- COMMAND...

A new user namespace maps uids and gids 0-65535 onto the same host ids (so files keep
their owners), its max_user_namespaces is set to 0 (no user namespace can be made inside)
and CAP_SYS_ADMIN leaves the bounding set (no mount or pid namespace either). Inside,
root can still switch uids, as a container's root can.  With --user, the command runs as
that unprivileged user instead."""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from grader.sandbox.posix import CLONE_NEWUSER, unshare  # noqa: E402


def main(argv: list[str]) -> int:
    user = None
    if argv[:1] == ["--user"]:
        user, argv = argv[1], argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    go_r, go_w = os.pipe()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(go_w)
        os.close(ready_r)
        unshare(CLONE_NEWUSER)
        os.write(ready_w, b"u")
        os.read(go_r, 1)                     # the parent has written our id maps
        with open("/proc/sys/user/max_user_namespaces", "w") as f:
            f.write("0")
        drop = ["setpriv", "--bounding-set=-sys_admin"]
        if user:
            uid, gid = user.split(":")
            drop += [f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
        os.execvp("setpriv", drop + ["--", *argv])
    os.close(go_r)
    os.close(ready_w)
    os.read(ready_r, 1)
    for name in ("uid_map", "gid_map"):
        with open(f"/proc/{pid}/{name}", "w") as f:
            f.write("0 0 65536\n")
    os.write(go_w, b"g")
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
