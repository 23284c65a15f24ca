"""sqlite3-module helpers: connections that wait for locks, read-only connections,
consistent copies, a replica's bytes on disk, a fingerprint of every row."""

import hashlib
import os
import sqlite3

BUSY_MS = 10_000


def connect(db, busy_ms=BUSY_MS):
    """Autocommit connection (explicit BEGIN/COMMIT) that waits busy_ms for locks."""
    con = sqlite3.connect(db, isolation_level=None, timeout=busy_ms / 1000)
    con.execute(f"PRAGMA busy_timeout = {busy_ms}")
    return con


def connect_ro(db, timeout=5.0):
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=timeout)


def snapshot(db, path):
    """A consistent copy of a replica file (SQLite's backup API), pending writes included."""
    src, dst = connect(db), connect(path)
    src.backup(dst)
    src.close()
    dst.close()
    return path


def file_bytes(path):
    """Bytes of a database with its -wal and -shm files."""
    total = 0
    for suffix in ("", "-wal", "-shm"):
        try:
            total += os.stat(f"{path}{suffix}").st_size
        except FileNotFoundError:
            pass
    return total


def fingerprint(db, skip=()):
    """A hash of every row of every table (the replica, its log, conflicts, vector), but the
    tables named in `skip`."""
    con = connect_ro(db, timeout=30)
    try:
        h = hashlib.sha256()
        for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"):
            if name in skip:
                continue
            rows = con.execute(f'SELECT * FROM "{name}"').fetchall()
            h.update(name.encode())
            h.update(repr(sorted(rows, key=repr)).encode())
        return h.hexdigest()
    finally:
        con.close()
