#!/usr/bin/env bash
# Builds the libFuzzer targets with AddressSanitizer and runs each for SECONDS (default 20)
# on its committed corpus (Fuzz/Corpus/TARGET). New inputs go to a scratch copy, so the
# committed corpus only changes when someone copies interesting finds back on purpose.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-20}
swift build -c release --sanitize=fuzzer --sanitize=address \
  --scratch-path .build-fuzz 2>&1 | grep -v "warning: Cannot export local symbol" | tail -3
bin=.build-fuzz/release
status=0
for target in dump-reader trace database-file; do
  work=$(mktemp -d)
  cp -r "Corpus/$target/." "$work/" 2>/dev/null || true
  echo "fuzz-$target: ${seconds}s"
  if ! "$bin/fuzz-$target" -max_total_time="$seconds" -max_len=32768 -timeout=10 -rss_limit_mb=4096 \
       -artifact_prefix="$work/" "$work" 2> "$work/log"; then
    status=1
    tail -40 "$work/log"
    ls "$work"/crash-* "$work"/timeout-* 2>/dev/null || true
  else
    grep -E "^#[0-9]+.*DONE|Done [0-9]+ runs" "$work/log" | tail -1
  fi
done
exit $status
