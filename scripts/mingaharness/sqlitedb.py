"""sqlite3-module helpers: connections that wait for locks, read-only connections,
consistent copies, a replica's bytes on disk, a digest of every table (table_digests)."""

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


def table_digests(db, skip=(), where=None, schema=False):
    """{table: sha256 of its rows, sorted} for every table of db but those named in `skip`;
    `where` maps a table to an SQL condition its rows must meet to count (to leave out rows
    that are runtime state); with `schema`, also "sqlite_master": the SQL of every table,
    index, trigger and view."""
    where = where or {}
    con = connect_ro(db, timeout=30)
    try:
        out = {}
        for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"):
            if name in skip:
                continue
            cond = f" WHERE {where[name]}" if name in where else ""
            rows = con.execute(f'SELECT * FROM "{name}"{cond}').fetchall()
            out[name] = hashlib.sha256(repr(sorted(rows, key=repr)).encode()).hexdigest()
        if schema:
            rows = con.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()
            out["sqlite_master"] = hashlib.sha256(repr(rows).encode()).hexdigest()
        return out
    finally:
        con.close()


def tables_differing(before, after):
    """The tables whose digests differ between two table_digests() results (those in only
    one of them too), sorted."""
    return sorted(n for n in set(before) | set(after) if before.get(n) != after.get(n))
