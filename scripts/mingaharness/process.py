"""Child processes: every one is registered so that all can be ended on exit, error or
Ctrl-C; programs run under `faketime` with a clock ahead; bounded runs (killed -9 when
they overrun); runs measured for wall time and peak RSS; several runs a few at a time."""

import ctypes
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from .log import log_elapsed

FAKETIME = shutil.which("faketime")
CMD_TIMEOUT = 60.0


class Failure(RuntimeError):
    """A command or a node did not do what the script needs of it."""


# --------------------------------------------------------------------------- faketime

def reaped(p):
    """Call right after p has been waited for: a faketime wrapper that was itself killed
    (not its program) leaves its shared clock in /dev/shm, named after its pid."""
    if getattr(p, "wrapped", False) and p.returncode is not None:
        for f in (f"/dev/shm/faketime_shm_{p.pid}", f"/dev/shm/sem.faketime_sem_{p.pid}"):
            try:
                os.unlink(f)
            except OSError:
                pass


def sweep_faketime_leftovers():
    """A faketime wrapper killed by any program (a test, an earlier run) leaves its shared
    clock in /dev/shm, named after its pid; a new wrapper that gets that pid then fails
    ("sem_open: File exists"). Those of pids no longer running are removed."""
    try:
        names = os.listdir("/dev/shm")
    except OSError:
        return
    for name in names:
        if not (name.startswith("faketime_shm_") or name.startswith("sem.faketime_sem_")):
            continue
        pid = name.rsplit("_", 1)[-1]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            try:
                os.unlink(f"/dev/shm/{name}")
            except OSError:
                pass


def wrapped_child(p, wait=2.0):
    """The pid of the program a faketime wrapper runs (its only child), None once ended."""
    deadline = time.monotonic() + wait
    while True:
        try:
            kids = Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()
        except OSError:
            kids = []
        if kids:
            return int(kids[0])
        if p.poll() is not None or time.monotonic() > deadline:
            return None
        time.sleep(0.001)


def signal_proc(p, sig):
    """Sends sig to the program p runs (under faketime: the wrapper's child)."""
    if p.poll() is not None:
        return
    if getattr(p, "wrapped", False):
        pid = wrapped_child(p)
        if pid is not None:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
            return
    try:
        p.send_signal(sig)
    except OSError:
        pass


SIGNAL_NAMES = {signal.strsignal(s): s for s in signal.Signals if signal.strsignal(s)}


def wrapped_rc(p, rc, err):
    """The faketime wrapper exits 1 with "Caught <signal>" when its program died of a
    signal: report that as the program's own negative exit status."""
    if getattr(p, "wrapped", False) and rc == 1:
        m = re.search(r"^Caught (.+?)\s*\Z", err, re.M)
        if m and m.group(1) in SIGNAL_NAMES:
            return -int(SIGNAL_NAMES[m.group(1)])
    return rc


# --------------------------------------------------------------------------- the registry

_prctl = None
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):
    pass


def _die_with_parent(then=None):
    def preexec():
        if _prctl is not None:
            _prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG: a child outliving its script is stopped
        if then:
            then()
    return preexec


class Procs:
    """Every process a script starts, so that all of them can be ended (by pid).

    A process with a clock offset runs under the `faketime` wrapper, which forks the
    program and waits for it (LD_PRELOAD of libfaketime without the wrapper's shared
    clock breaks the argument vector of the Swift binary). Signals then go to the
    wrapper's child, the program itself, and the wrapper exits with it.

    By default a child gets its own session (Ctrl-C reaches the script, which ends it).
    die_with_parent: the child gets SIGTERM when the thread that started it ends (only
    for children started from the main thread)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.procs = []

    def spawn(self, args, offset=0, die_with_parent=False, **kw):
        kw.setdefault("start_new_session", True)
        args = [str(a) for a in args]
        if offset:
            if not FAKETIME:
                raise Failure("a clock offset needs faketime (apt-get install faketime)")
            sweep_faketime_leftovers()
            # the monotonic clock stays real: timers and timeouts are not a day off
            args = [FAKETIME, "--exclude-monotonic", "-f", f"+{int(offset)}", *args]
        if die_with_parent:
            kw["preexec_fn"] = _die_with_parent(kw.get("preexec_fn"))
        p = subprocess.Popen(args, **kw)
        p.wrapped = bool(offset)
        with self.lock:
            # only returncode, never poll(): a caller may reap its child with os.wait4
            self.procs = [q for q in self.procs if q.returncode is None]
            self.procs.append(p)
        return p

    def forget(self, p):
        with self.lock:
            self.procs = [q for q in self.procs if q is not p]

    def live(self):
        with self.lock:
            return [p for p in self.procs if p.poll() is None]

    def kill_all(self):
        """SIGKILL to every live child, then wait up to 5 s for each."""
        procs = self.live()
        for p in procs:
            signal_proc(p, signal.SIGKILL)
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            reaped(p)

    def stop_all(self, grace=10):
        """SIGTERM to every live child; those still running after `grace` s get SIGKILL."""
        procs = self.live()
        for p in procs:
            signal_proc(p, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            except ChildProcessError:
                pass
            reaped(p)
            self.forget(p)


PROCS = Procs()


# --------------------------------------------------------------------------- runs

class Result:
    """A finished command: args, rc, out, err, secs (wall), timed_out, maxrss_kb."""

    def __init__(self, args, rc, out, err, secs, timed_out=False, maxrss_kb=None):
        self.args, self.rc, self.out, self.err, self.secs = args, rc, out, err, secs
        self.timed_out, self.maxrss_kb = timed_out, maxrss_kb

    cmd = property(lambda self: self.args)
    seconds = property(lambda self: self.secs)

    @property
    def ok(self):
        return self.rc == 0 and not self.timed_out

    def text(self):
        return (self.out + "\n" + self.err).strip()

    def describe(self):
        cmd = " ".join(quote(a) for a in self.args)
        what = "timed out" if self.timed_out else f"exit {self.rc}"
        tail = self.text()[-600:]
        return f"`{cmd}` {what}: {tail}"

    def check(self):
        """self if it exited 0, else Failure (a RuntimeError) with its stderr."""
        if self.rc != 0:
            raise Failure(f"`{' '.join(self.args)}` exited {self.rc}:\n{self.err.strip()}")
        return self


def quote(a):
    a = str(a)
    if len(a) > 120:
        a = a[:100] + f"...({len(a)} chars)"
    return a if re.fullmatch(r"[A-Za-z0-9_./:=@%+-]+", a) else "'" + a.replace("'", "'\\''") + "'"


def run(args, timeout=CMD_TIMEOUT, env=None, input=None, preexec=None, offset=0, cwd=None):
    """Run a command with a bounded wait; a command that overruns is killed -9 (its
    Result says timed_out). With an offset (seconds), it runs with its clock that far
    ahead (faketime). env: variables added to this process's environment."""
    t0 = time.monotonic()
    full_env = dict(os.environ, **env) if env else None
    p = PROCS.spawn([str(a) for a in args], offset=offset,
                    stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env, preexec_fn=preexec, cwd=cwd)
    timed_out = False
    try:
        out, err = p.communicate(input=input.encode() if isinstance(input, str) else input, timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        signal_proc(p, signal.SIGKILL)
        out, err = p.communicate()
    reaped(p)
    err = err.decode("utf-8", "replace")
    return Result([str(a) for a in args], wrapped_rc(p, p.returncode, err), out.decode("utf-8", "replace"),
                  err, time.monotonic() - t0, timed_out)


def vm_hwm_kb(pid):
    """The process's peak RSS so far (VmHWM, KB), None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def sha256_file(f):
    """sha256 hex digest of an open file, read from the start in chunks."""
    f.seek(0)
    h = hashlib.sha256()
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
    return h.hexdigest()


def spawn_to(cmd, out, err, cwd=None):
    """A registered child writing to the files out and err (same session as the script,
    SIGTERM when the script ends), for the measured runs below."""
    return PROCS.spawn(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd,
                       start_new_session=False, die_with_parent=True)


def _reap(p):
    """Wait for p with wait4; its rusage (ru_maxrss)."""
    _, status, rusage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    PROCS.forget(p)
    return rusage


def _read(f):
    f.seek(0)
    return f.read().decode(errors="replace")


def run_measured(cmd, timeout=3 * 3600, heartbeat=None, every=10.0, cwd=None, log=log_elapsed):
    """Run to completion; wall seconds and the child's peak RSS in KB.

    The peak is the child's own VmHWM, polled every 0.2 s (and wait4's ru_maxrss for a
    child too short to poll). ru_maxrss alone is wrong here: Linux carries the address
    space the child had before exec into it, and that is a copy of this script, which may
    hold a lot of rows (bench's W2: about 300 MB at 1M), so a 64 MB client read as 365 MB.
    `heartbeat()` returns a progress string, printed every `every` seconds while it runs.
    """
    cmd = [str(a) for a in cmd]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        p = spawn_to(cmd, out, err, cwd=cwd)
        done = threading.Event()
        polled = []

        def watch():
            waited, beat = 0.0, 0.0
            while not done.wait(0.2):
                waited += 0.2
                hwm = vm_hwm_kb(p.pid)
                if hwm:
                    polled.append(hwm)
                if waited >= timeout:
                    log(f"  timeout after {timeout:.0f}s: {' '.join(cmd[:3])} (killed)")
                    p.kill()
                    return
                if heartbeat and waited - beat >= every:
                    beat = waited
                    log(f"  … {waited:.0f}s: {heartbeat()}")

        threading.Thread(target=watch, daemon=True).start()
        try:
            rusage = _reap(p)
        finally:
            done.set()
        seconds = time.perf_counter() - t
        return Result(cmd, p.returncode, _read(out), _read(err), seconds,
                      maxrss_kb=max(polled) if polled else rusage.ru_maxrss)


def run_many(cmds, parallel=None, digest=False):
    """Run several commands, a few at a time (cores x 2); their Results, in order.
    With digest, each Result's `out` is the sha256 of its stdout (streamed: a dump of a
    large replica is not held in memory)."""
    parallel = parallel or 2 * len(os.sched_getaffinity(0))
    results, running = [None] * len(cmds), []
    for i, cmd in enumerate([str(a) for a in c] for c in cmds):
        out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        running.append((i, cmd, spawn_to(cmd, out, err), time.perf_counter(), out, err))
        while len(running) >= parallel or (i == len(cmds) - 1 and running):
            j, c, p, t, o, e = running.pop(0)
            rusage = _reap(p)
            text = sha256_file(o) if digest else _read(o)
            results[j] = Result(c, p.returncode, text, _read(e), time.perf_counter() - t,
                                maxrss_kb=rusage.ru_maxrss)
            o.close()
            e.close()
    return results
