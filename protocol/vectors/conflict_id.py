#!/usr/bin/env python3
"""Recompute Minga conflict ids (protocol/README.md, "Conflict ids").

Usage:
    python3 conflict_id.py TABLE KEY_JSON COLUMN WINNER LOSER
    python3 conflict_id.py initiative '["MX-1"]' status mx.amexcid:2 co.apc:1
    python3 conflict_id.py flow '["MX-1",{"int":"2025"}]' null co.apc:1 mx.amexcid:3

KEY_JSON is the key as a JSON array of wire values (spacing does not matter; it is
re-rendered canonically). COLUMN is the column name, or the word null for a row
conflict (a delete against an insert/update). WINNER and LOSER are "origin:seq".

    id = first 16 hex digits of SHA-256( UTF-8 of the six lines joined by "\\n":
           "minga.conflict.v1", table, canonical key JSON,
           column as a JSON string (or the literal null), winner, loser )
"""
import base64
import hashlib
import json
import sys


def quote(s: str) -> str:
    """A JSON string literal with only the escapes JSON requires: \\" \\\\ \\n \\r \\t,
    other control characters as \\u00xx (lowercase hex); everything else raw (UTF-8)."""
    out = ['"']
    for ch in s:
        cp = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif cp < 0x20:
            out.append("\\u%04x" % cp)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def value_json(v) -> str:
    """Canonical compact wire JSON of one value given in (parsed) wire form."""
    if v is None:
        return "null"
    if isinstance(v, str):
        return quote(v)
    if isinstance(v, dict) and len(v) == 1:
        (tag, payload), = v.items()
        if tag == "int":
            return '{"int":"%d"}' % int(payload)
        if tag == "blob":
            return '{"blob":%s}' % quote(base64.b64encode(base64.b64decode(payload, validate=True)).decode())
        if tag == "real":
            raise ValueError("reals are not allowed in keys")
    raise ValueError("not a wire value: %r" % (v,))


def key_json(key) -> str:
    return "[" + ",".join(value_json(v) for v in key) + "]"


def conflict_id(table: str, key, column, winner: str, loser: str) -> str:
    text = "\n".join([
        "minga.conflict.v1",
        table,
        key_json(key),
        "null" if column is None else quote(column),
        winner,
        loser,
    ])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def main(argv):
    if len(argv) != 6:
        sys.stderr.write(__doc__)
        return 2
    _, table, key, column, winner, loser = argv
    print(conflict_id(table, json.loads(key), None if column == "null" else column, winner, loser))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
