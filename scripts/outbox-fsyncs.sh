#!/usr/bin/env bash
# Counts the fsyncs the outboxes make at a steady load: results flushed to
# two lanes of one sink FIG_FLUSHES_PER_SEC times a second (with fsync, as
# under wal.durability: fsync) while a Runner delivers them.
#   scripts/outbox-fsyncs.sh            # 1 flush/s for 10 s
#   FIG_FLUSHES_PER_SEC=50 scripts/outbox-fsyncs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
bin=$(mktemp -d)/forward.test
trap 'rm -rf "$(dirname "$bin")"' EXIT
go test -c -o "$bin" ./forward/
secs=${FIG_SECONDS:-10}
RIVULET_FIGURES=1 FIG_SECONDS=$secs strace -f -c -e trace=fsync,fdatasync -o "$bin.strace" \
  "$bin" -test.run '^TestSteadyLoadFigure$' -test.v | grep -E 'steady load|^(ok|FAIL|PASS)'
cat "$bin.strace"
calls=$(awk '$NF ~ /^(fsync|fdatasync)$/ {n += $4} END {print n+0}' "$bin.strace")
echo "fsync+fdatasync: $calls in ~${secs}s = $(awk -v c="$calls" -v s="$secs" 'BEGIN {printf "%.1f", c/s}')/s"
