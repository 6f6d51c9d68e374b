#!/usr/bin/env python3
"""Writes the mdb_load inputs that make-fixtures.sh loads into real LMDB.

The same records are built in Swift by DumpFormatTests.swift (fixtureMainRecords and
friends); keep the two in step.
"""
import sys

def large():
    out = bytearray()
    for i in range(5000):
        b = (i * 31 + 7) % 251
        out.append(0x2f if b == 0x5c else b)
    return bytes(out)

MAIN = [
    (b"alpha", b"one"),
    (b"all-but-backslash", bytes(b for b in range(256) if b != 0x5c)),
    (b"empty", b""),
    (b"large", large()),
    (bytes([0x00, 0x0a, 0xff]), b"binary key"),
    (b"spaces", b"  leading and trailing  "),
    (b"utf8", "h\u00e9llo w\u00f6rld".encode()),
    (b"controls", b"tab\there\r\nnl"),
    (b"equals", b"DATA=END"),
    (b"hexlike", b"deadbeef"),
    (b"~tilde", bytes([0x7f, 0x80, 0x20, 0x7e, 0x1f])),
    (b"k", bytes(b for b in range(0x20, 0x7f) if b != 0x5c)),
]

BACKSLASH = [
    (b"path", b"C:\\temp\\41"),
    (b"all-bytes", bytes(range(256))),
]

TABLES = {
    "colors": [(b"green", bytes([0, 255, 0])), (b"red", bytes([255, 0, 0]))],
    "fruits": [(b"apple", b"red"), (b"banana", b"yellow"), (b"cherry", b"")],
    "my table": [(b"only", b"one record")],
}

def section(records, name=None):
    out = "VERSION=3\nformat=bytevalue\n"
    if name is not None:
        out += "database=%s\n" % name
    out += "type=btree\nHEADER=END\n"
    for k, v in sorted(records):
        out += " %s\n %s\n" % (k.hex(), v.hex())
    return out + "DATA=END\n"

which = sys.argv[1]
if which == "main":
    sys.stdout.write(section(MAIN))
elif which == "backslash":
    sys.stdout.write(section(BACKSLASH))
elif which == "tables":
    sys.stdout.write("".join(section(r, n) for n, r in TABLES.items()))
