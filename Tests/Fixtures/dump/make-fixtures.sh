#!/bin/sh
# Regenerates the fixtures in this folder with the real LMDB tools (lmdb-utils 0.9.24:
# `apt-get install lmdb-utils`). The tests never run this; they read the committed output.
set -eu
cd "$(dirname "$0")"
command -v mdb_dump >/dev/null || { echo "needs mdb_dump/mdb_load (apt-get install lmdb-utils)" >&2; exit 1; }
mdb_dump -V > lmdb-version.txt
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Main (unnamed) table: every byte but 0x5c, empty value, a 5000-byte value, binary key.
mkdir "$tmp/main"
python3 records.py main > "$tmp/main.in"
mdb_load -f "$tmp/main.in" "$tmp/main"
mdb_dump "$tmp/main" > main.bytevalue.dump
mdb_dump -p "$tmp/main" > main.print.dump

# Backslashes: 0.9.24's `mdb_dump -p` writes them raw, which its own mdb_load misreads.
mkdir "$tmp/backslash"
python3 records.py backslash > "$tmp/backslash.in"
mdb_load -f "$tmp/backslash.in" "$tmp/backslash"
mdb_dump "$tmp/backslash" > backslash.bytevalue.dump
mdb_dump -p "$tmp/backslash" > backslash.print.dump
mkdir "$tmp/backslash-reload"
if mdb_load -f backslash.print.dump "$tmp/backslash-reload" 2> backslash.print.reload.stderr; then echo "exit 0" >> backslash.print.reload.stderr; fi

# Named tables, loaded from one multi-section input; -a dumps one section per table.
mkdir "$tmp/tables"
python3 records.py tables > "$tmp/tables.in"
mdb_load -f "$tmp/tables.in" "$tmp/tables"
mdb_dump -a "$tmp/tables" > tables.all.bytevalue.dump
mdb_dump -a -p "$tmp/tables" > tables.all.print.dump
mdb_dump -s fruits -p "$tmp/tables" > tables.fruits.print.dump

# A dupsort table: header lines `duplicates=1` and `dupsort=1` that we must read past.
mkdir "$tmp/dupsort"
printf 'VERSION=3\nformat=print\ntype=btree\ndupsort=1\nHEADER=END\n k\n 1\n k\n 2\nDATA=END\n' > "$tmp/dupsort.in"
mdb_load -f "$tmp/dupsort.in" "$tmp/dupsort"
mdb_dump "$tmp/dupsort" > dupsort.bytevalue.dump

# Plain text (-T) input and what mdb_load made of it.
mkdir "$tmp/plain"
mdb_load -T -f plain.txt "$tmp/plain"
mdb_dump "$tmp/plain" > plain.bytevalue.dump

# mdb_load 0.9.24 decodes `\\` wrongly after an earlier `\xx` escape on the same line.
mkdir "$tmp/escbug"
mdb_load -T -f escaped-backslash.txt "$tmp/escbug"
mdb_dump "$tmp/escbug" > escaped-backslash.bytevalue.dump

# What mdb_load says about malformed input (for the error-message tests).
for f in bad-*.txt; do
    d="$tmp/${f%.txt}"; mkdir "$d"
    if mdb_load -f "$f" "$d" 2> "${f%.txt}.stderr"; then echo "exit 0" >> "${f%.txt}.stderr"; fi
    sed -i "s|$tmp/||g" "${f%.txt}.stderr"
done
