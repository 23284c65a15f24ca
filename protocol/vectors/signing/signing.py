#!/usr/bin/env python3
"""Signing vectors (protocol/README.md §17), computed independently of the Swift code.

`signing.py` prints protocol/vectors/signing.json: for fixed keys and changes, the canonical
bytes, the hash-chain links and the Ed25519 signatures. `signing.py --check` recomputes them
and compares with the file. Needs the `cryptography` package (Debian: python3-cryptography).
MingaCoreTests checks the Swift implementation against the same file."""
import base64, hashlib, json, struct, sys
from pathlib import Path
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

def s(text):  # str: u32 big-endian length, UTF-8 bytes
    b = text.encode("utf-8")
    return struct.pack(">I", len(b)) + b

def u64(n):
    return struct.pack(">Q", n & 0xFFFFFFFFFFFFFFFF)

def value(v):
    if v is None:
        return b"n"
    if isinstance(v, str):
        return b"t" + s(v)
    (tag, payload), = v.items()
    if tag == "int":
        return b"i" + u64(int(payload))
    if tag == "real":
        return b"r" + struct.pack(">d", {"inf": float("inf"), "-inf": float("-inf")}.get(payload, None) or float(payload))
    if tag == "blob":
        raw = base64.b64decode(payload)
        return b"b" + struct.pack(">I", len(raw)) + raw
    raise ValueError(tag)

def hlc_packed(wire):
    ms, counter = wire.split("-")
    return int(ms) << 16 | int(counter)

def canonical(c):
    out = b"minga-change-v1" + s(c["origin"]) + u64(c["seq"]) + u64(hlc_packed(c["hlc"])) + s(c["table"]) + s(c["op"])
    out += struct.pack(">I", len(c["key"])) + b"".join(value(v) for v in c["key"])
    names = sorted(c["columns"], key=lambda n: n.encode("utf-8"))
    out += struct.pack(">I", len(names)) + b"".join(s(n) + value(c["columns"][n]) for n in names)
    origins = sorted(c["context"], key=lambda o: o.encode("utf-8"))
    out += struct.pack(">I", len(origins)) + b"".join(s(o) + u64(c["context"][o]) for o in origins)
    return out

SEED = bytes(range(32))  # the private key (raw 32 bytes) of mx.amexcid in these vectors
CHANGES = [
    {"origin": "mx.amexcid", "seq": 1, "hlc": "1764000000000-00000", "table": "initiative", "key": ["XM-DAC-41114-PROJ-000001"],
     "op": "insert", "columns": {"title": "Agua potable ñ 🤝", "budget": {"int": "-9007199254740993"}, "ratio": {"real": "0.1"},
                                  "doc": {"blob": "AAEC/w=="}, "note": None}, "context": {}},
    {"origin": "mx.amexcid", "seq": 2, "hlc": "1764000000001-00003", "table": "initiative", "key": ["XM-DAC-41114-PROJ-000001"],
     "op": "update", "columns": {"title": "Agua y saneamiento"}, "context": {"mx.amexcid": 1, "co.apc": 7}},
    {"origin": "mx.amexcid", "seq": 3, "hlc": "1764000000002-00000", "table": "participation", "key": ["XM-1", {"int": "42"}],
     "op": "delete", "columns": {}, "context": {"mx.amexcid": 2}},
]

def compute():
    key = Ed25519PrivateKey.from_private_bytes(SEED)
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    link = bytes(32)
    cases = []
    for c in CHANGES:
        raw = canonical(c)
        link = hashlib.sha256(link + raw).digest()
        signature = key.sign(b"minga-chain-v1" + link)
        cases.append({"change": c, "canonicalHex": raw.hex(), "linkHex": link.hex(), "signature": base64.b64encode(signature).decode()})
    return {"privateKeyHex": SEED.hex(), "publicKey": base64.b64encode(public).decode(), "chain": cases}

if __name__ == "__main__":
    path = Path(__file__).with_name("signing.json")
    data = compute()
    if "--check" in sys.argv:
        ok = json.loads(path.read_text()) == data
        print("signing.json " + ("matches" if ok else "DIFFERS from") + " this computation")
        sys.exit(0 if ok else 1)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {path}")
