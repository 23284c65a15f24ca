"""Federation: every node lists every other node's public key in its roster (`minga
roster add`, or the same rows written with sqlite3 for large meshes). Every `minga`
binary has `minga roster`."""

import json
import os

from .process import Failure, run_many
from .sqlitedb import connect


def status_key(node, st):
    if not st.get("publicKey"):
        raise Failure(f"`minga status --json` of {node.node_id} has no \"publicKey\"")
    return st["publicKey"]


def public_keys(nodes):
    """node id -> public key, from `minga status --json` of every node (run a few at a time)."""
    keys = {}
    for n, r in zip(nodes, run_many([n.command("status", "--json") for n in nodes])):
        keys[n.node_id] = status_key(n, json.loads(r.check().out))
    return keys


def write_roster(nodes, keys):
    """The rows `minga roster add` writes (minga_roster: node, public_key, added_at =
    datetime('now')), with sqlite3, on nodes whose server is not running (a running `minga
    serve` is not told of rows written under it)."""
    for n in nodes:
        if getattr(n, "server", None) is not None:
            raise Failure(f"federate(direct): {n.node_id}'s server is already running")
        con = connect(n.db)
        con.execute("BEGIN")
        con.executemany("INSERT OR REPLACE INTO minga_roster(node, public_key, added_at)"
                        " VALUES (?, ?, datetime('now'))",
                        [(o.node_id, keys[o.node_id]) for o in nodes if o is not n])
        con.execute("COMMIT")
        con.close()


def federate(nodes, keys=None, direct=None, log=None):
    """Every node lists every other node's public key in its roster.

    keys: node id -> public key, if the caller already has them (else `minga status --json`
    of every node). direct (default: above 25 nodes): write the roster rows with sqlite3
    instead of running `minga roster add` for every pair, which for 100 nodes is 9,900
    processes; the roster is local configuration, never synced, so nothing else has to
    learn of it. log: a function for a progress line."""
    if len(nodes) < 2:
        return
    keys = keys or public_keys(nodes)
    if direct is None:
        direct = len(nodes) > 25
    if log:
        log(f"  federating {len(nodes)} nodes ({len(nodes) * (len(nodes) - 1):,} roster entries"
            + (", written directly with sqlite3)" if direct else ")"))
    if direct:
        write_roster(nodes, keys)
        return
    # Round j: node i adds node i+j. Commands run a few at a time, in this order, so the ones
    # running together always write to different replicas.
    cmds = [nodes[i].command("roster", "add", nodes[(i + j) % len(nodes)].node_id,
                             keys[nodes[(i + j) % len(nodes)].node_id])
            for j in range(1, len(nodes)) for i in range(len(nodes))]
    parallel = min(len(nodes) - 1, 2 * len(os.sched_getaffinity(0))) if len(nodes) > 2 else 1
    for r in run_many(cmds, parallel=parallel):
        r.check()
