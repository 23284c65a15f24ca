"""The frame of one run of a script: the sqlite3 shell it needs, its work directory
(kept when the run fails or was asked to keep it, else removed), SIGTERM handled as
Ctrl-C so that the script ends its children and writes its summary."""

import shutil
import signal
import sys
import tempfile
from pathlib import Path

from .log import log


def require_sqlite3(prog):
    if not shutil.which("sqlite3"):
        sys.exit(f"{prog}: needs the sqlite3 shell (apt-get install sqlite3)")


def work_dir(path, prefix):
    """--workdir PATH (created), else a new temporary directory."""
    root = Path(path).resolve() if path else Path(tempfile.mkdtemp(prefix=prefix))
    root.mkdir(parents=True, exist_ok=True)
    return root


def interrupt_on_sigterm():
    """SIGTERM raises KeyboardInterrupt; SIGINT does too, even when started with SIGINT ignored."""
    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def end_work_dir(root, keep, prog):
    """Leaves the work dir (and says so) if keep, else removes it."""
    if keep:
        log(f"{prog}: work dir kept: {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
