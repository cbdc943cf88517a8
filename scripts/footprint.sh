#!/usr/bin/env bash
# Footprint: rivulet's CPU and RSS when idle and under a steady sensor load
# (default 10k QoS 1 msgs/s over 10k series) against mosquitto on loopback,
# plus the binary size per architecture. Appends a dated section to
# BENCHMARKS.md. Needs mosquitto.
#
#   scripts/footprint.sh [-rate N] [-series N] [-qos 0|1] [-window 30s]
set -euo pipefail
cd "$(dirname "$0")/.."
make build >/dev/null
make cross >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/bench" ./scripts/bench
table=$("$tmp/bench" -rivulet bin/rivulet -footprint -rate 10000 -series 10000 "$@")
{
  echo "### Footprint $(date -u +%Y-%m-%d) — commit $(git describe --always --dirty --abbrev=7 2>/dev/null || echo unknown) — $(nproc) cores, $(uname -m)"
  echo
  echo "Command: \`scripts/footprint.sh $*\`"
  echo
  echo "$table"
  echo
  echo "| static stripped binary | bytes | MiB |"
  echo "|---|---:|---:|"
  for f in dist/rivulet-linux-*; do
    b=$(stat -c %s "$f")
    echo "| ${f#dist/rivulet-} | $b | $(awk -v b="$b" 'BEGIN {printf "%.1f", b/1048576}') |"
  done
} > "$tmp/section.md"
cat "$tmp/section.md"
# The section goes after the last MQTT section, above the store-and-forward
# and micro-benchmark sections.
awk -v f="$tmp/section.md" '
  /^## (Store and forward|Micro-benchmarks)/ && !done { while ((getline l < f) > 0) print l; print ""; done = 1 }
  { print }
  END { if (!done) { print ""; while ((getline l < f) > 0) print l } }
' BENCHMARKS.md > "$tmp/B.md"
cat "$tmp/B.md" > BENCHMARKS.md
