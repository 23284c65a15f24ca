"""A node (one replica: `minga --db DIR/ID.db`) and its `minga serve`."""

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

from .process import CMD_TIMEOUT, PROCS, Failure, reaped, run, run_many, signal_proc, vm_hwm_kb

LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:(\d+))")
SERVE_START_TIMEOUT = 20.0


class Node:
    """One replica, DIR/ID.db. `offset`: seconds its clock runs ahead (faketime); every
    command and server of the node runs with it."""

    def __init__(self, binary, dir, node_id):
        self.binary, self.node_id, self.dir = binary, node_id, dir
        name = f"{node_id}.db"
        self.db = dir / name if isinstance(dir, Path) else os.path.join(dir, name)
        self.offset = 0

    def __repr__(self):
        return self.node_id

    def command(self, *args):
        """`minga ARGS --db DB` (args: the subcommand path and its own arguments)."""
        return [self.binary, *args, "--db", self.db]

    def minga(self, sub, *rest, timeout=CMD_TIMEOUT, env=None, preexec=None, input=None):
        """`minga SUB --db DB REST...` (sub: a word or a tuple of words); its Result."""
        sub = (sub,) if isinstance(sub, str) else tuple(sub)
        return run([self.binary, *sub, "--db", self.db, *rest], timeout=timeout, env=env,
                   preexec=preexec, input=input, offset=self.offset)

    def ok(self, sub, *rest, **kw):
        """minga(...), which must succeed (else Failure)."""
        r = self.minga(sub, *rest, **kw)
        if not r.ok:
            words = (sub,) if isinstance(sub, str) else tuple(sub)
            raise Failure(f"{self}: minga {' '.join(words)} failed: {r.describe()}")
        return r

    def sqlite(self, script, timeout=CMD_TIMEOUT, preexec=None, bail=True):
        """The sqlite3 shell on the replica, script on stdin; its Result."""
        return run(["sqlite3", *(["-bail"] if bail else []), "-batch", self.db], input=script, timeout=timeout,
                   preexec=preexec, offset=self.offset)

    def sqlite_ok(self, script, **kw):
        """sqlite(...), which must succeed (else Failure); its stdout."""
        r = self.sqlite(script, **kw)
        if not r.ok:
            raise Failure(f"{self}: sqlite3 failed: {r.describe()[-400:]}")
        return r.out

    def status(self):
        r = self.minga("status", "--json")
        if not r.ok:
            raise Failure(f"{self}: status failed: {r.describe()}")
        return json.loads(r.out)

    def integrity(self):
        r = self.sqlite("PRAGMA integrity_check;\n")
        return r.out.strip() if r.ok else f"(sqlite3 failed: {r.describe()})"

    def page_count(self):
        r = self.sqlite("PRAGMA page_count;\nPRAGMA freelist_count;\n")
        pc, free = [int(x) for x in r.out.split()]
        return pc, free

    def dump_json(self):
        r = self.minga("dump", "--json")
        if not r.ok:
            raise Failure(f"{self}: dump failed: {r.describe()}")
        return r.out

    def conflicts_json(self):
        r = self.minga(("conflicts", "list"), "--all", "--json")
        if not r.ok:
            raise Failure(f"{self}: conflicts list failed: {r.describe()}")
        return r.out


def wait_listening(proc, read_log, timeout, pattern=LISTENING):
    """Waits for `minga: node X listening on http://127.0.0.1:PORT` in what read_log()
    returns; the match, or None if proc ended or timeout seconds passed first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = pattern.search(read_log())
        if m:
            return m
        if proc.poll() is not None:
            return None
        time.sleep(0.02)
    return None


class Server:
    """`minga serve` of a node on 127.0.0.1 (port 0: any), syncing hourly at most, its
    stdout and stderr in DIR/serve-ID-N.log. args: extra options (--token-file F,
    --max-body-bytes N...); it runs with the node's clock offset."""
    count = 0

    def __init__(self, node, env=None, preexec=None, port=0, args=()):
        Server.count += 1
        self.node = node
        self.args = tuple(str(a) for a in args)
        self.offset = node.offset
        self.logpath = Path(node.dir) / f"serve-{node.node_id}-{Server.count}.log"
        self.logfile = open(self.logpath, "wb")
        self.proc = PROCS.spawn([node.binary, "serve", "--db", node.db, "--host", "127.0.0.1",
                                 "--port", str(port), "--sync-interval", "3600", *self.args],
                                offset=node.offset, stdin=subprocess.DEVNULL, stdout=self.logfile,
                                stderr=subprocess.STDOUT, env=dict(os.environ, **(env or {})), preexec_fn=preexec)
        m = wait_listening(self.proc, self.log_text, SERVE_START_TIMEOUT)
        self.url, self.port = (m.group(1), int(m.group(2))) if m else (None, None)
        if not self.url:
            self.kill9()
            raise Failure(f"{node}: minga serve did not start: {self.log_text()[-800:]}")

    def log_text(self):
        try:
            return self.logpath.read_text(errors="replace")
        except OSError:
            return ""

    def alive(self):
        return self.proc.poll() is None

    def rss_peak_kib(self):
        return vm_hwm_kb(self.proc.pid)

    def kill9(self):
        signal_proc(self.proc, signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        reaped(self.proc)
        self.logfile.close()

    def stop(self):
        """SIGTERM, then -9 after 10 s; False if it came to -9."""
        graceful = True
        if self.proc.poll() is None:
            signal_proc(self.proc, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                graceful = False
                signal_proc(self.proc, signal.SIGKILL)
                self.proc.wait(timeout=10)
        reaped(self.proc)
        self.logfile.close()
        return graceful


def free_ports(n):
    """n distinct free ports (all held open at once, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def dump_digests(nodes, parallel=None):
    """sha256 of every node's `minga dump` (canonical: nodes holding the same data print the
    same bytes), in order."""
    return [r.check().out for r in run_many([n.command("dump") for n in nodes], parallel=parallel,
                                            digest=True)]
