"""Progress lines on stderr: plain (`log`), or prefixed with the seconds since start
(`log_elapsed`, "[   12.3s] message")."""

import sys
import time

T0 = time.monotonic()


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def log_elapsed(msg):
    print(f"[{time.monotonic() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)
