#!/usr/bin/env bash
# Side-by-side load test of the kv-service on MapStore and on SQLite (GRDB), one run:
# each backend gets a fresh database on 127.0.0.1, a preload, then a read-heavy and a
# write-heavy mix driven by wrk. Prints requests/s and latency percentiles.
#   scripts/loadtest.sh [SECONDS] [KEYS]      (apt-get install wrk first)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
keys=${2:-10000}
command -v wrk >/dev/null || { echo "loadtest: wrk is missing (apt-get install wrk)" >&2; exit 2; }
swift build -c release --product kv-service 2>&1 | tail -1
bin=$(swift build -c release --show-bin-path)/kv-service
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port=18080
printf "%-27s %-12s %12s %10s %10s %10s %10s\n" backend mix "requests/s" p50 p90 p99 errors
# MapStore with .full and .noMetaSync (one fdatasync per commit each; .noMetaSync may lose
# the last commit at a power cut), each without and with group commit: PUTs that arrive
# together share the sync, each answered only once durable. SQLite in WAL mode with GRDB's
# default synchronous=NORMAL (no sync per commit: the WAL is synced at checkpoints), and
# with synchronous=FULL (one sync per commit: the durability of MapStore's .full). MapStore's
# .lazy is the counterpart of synchronous=NORMAL: no sync per commit, one when a second has
# passed or 2 MiB were written; a power cut may lose the commits since, never damages.
for run in mapstore:full mapstore:full+group mapstore:noMetaSync mapstore:noMetaSync+group mapstore:lazy sqlite:default sqlite:full; do
  backend=${run%%:*}; durability=${run##*:}
  port=$((port + 1))
  group=off
  if [ "${durability%+group}" != "$durability" ]; then durability=${durability%+group}; group=on; fi
  if [ "$backend" = mapstore ]; then extra=(--durability "$durability" --group-commit "$group")
  elif [ "$durability" = full ]; then extra=(--synchronous full)
  else extra=(); fi
  label="$backend ($durability)"; [ "$group" = off ] || label="$backend ($durability+group)"
  [ "$run" != sqlite:full ] || label="sqlite (synchronous=FULL)"
  "$bin" --backend "$backend" "${extra[@]}" --path "$work/kv.$port.$backend" --port "$port" >/dev/null 2>&1 &
  server=$!
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/stats" && break; sleep 0.1; done
  # Preload: every key once (PUT only), then the two mixes on the same data.
  # On a busy machine one pass may not reach every key: repeat until /stats counts them all,
  # so a GET of the mixes never meets a missing key (a 404 would count as an error).
  for _ in 1 2 3 4 5; do
    wrk -t1 -c16 -d"$(( keys / 1000 + 3 ))s" -s scripts/preload.lua "http://127.0.0.1:$port" -- "$keys" >/dev/null
    entries=$(curl -s "http://127.0.0.1:$port/stats" | grep -o '"entries":[0-9]*' | cut -d: -f2)
    [ "${entries:-0}" -ge "$keys" ] && break
  done
  for mix in read-heavy:10 write-heavy:90; do
    name=${mix%%:*}; percent=${mix##*:}
    out=$(wrk -t2 -c32 -d"${seconds}s" --latency -s scripts/mix.lua "http://127.0.0.1:$port" -- "$keys" "$percent")
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1=="50%" {print $2}')
    p90=$(echo "$out" | awk '$1=="90%" {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    errors=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
    printf "%-27s %-12s %12s %10s %10s %10s %10s\n" "$label" "$name" "$rps" "$p50" "$p90" "$p99" "${errors:-0}"
  done
  kill -TERM "$server"; wait "$server" 2>/dev/null || true
done
