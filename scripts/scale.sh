#!/usr/bin/env bash
# Scale curves: rivulet's CPU per message, peak RSS, fsyncs and latency
# from 1 to 100k series (at 10k msgs/s) and from 1k msgs/s to the ceiling
# (100 series), QoS 1, live load against mosquitto on loopback, with the
# bare paho subscriber's CPU at the same load. Appends a dated section to
# BENCHMARKS.md. Needs mosquitto and strace.
#
#   scripts/scale.sh [bench flags]    e.g. -qos 0, -format influx -points 10
#
# ROUNDS (default 3), RIVULET_BIN as for scripts/bench.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${RIVULET_BIN:-bin/rivulet}
[ -n "${RIVULET_BIN:-}" ] || make build >/dev/null
rounds=${ROUNDS:-3}
load0=$(cut -d" " -f1-3 /proc/loadavg)
rev=$(git describe --always --dirty --abbrev=7 2>/dev/null || echo unknown)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/bench" ./scripts/bench
run() { "$tmp/bench" -rivulet "$bin" -rounds "$rounds" -duration 6s -warmup 2s "$@"; }
series=$(run -scale series -rate 10000 "$@")
rate=$(run -scale rate -series 100 -values 1000,5000,20000,50000,0 "$@")
{
  echo "### Scale $(date -u +%Y-%m-%d) — commit $rev — $(nproc) cores, $(uname -m)"
  echo
  echo "Command: \`scripts/scale.sh $*\` (ROUNDS=$rounds, 6 s windows after 2 s of warm-up); load average before: $load0."
  echo
  echo "Series (at 10000 msgs/s; the warm-up lasts until every series has been seen once, so these are steady-state figures — the first sight of each series costs more, see the notes):"
  echo
  echo "$series"
  echo
  echo "Rate (100 series; 10000 msgs/s is the 100-series row above; max = the generator as fast as the broker takes it):"
  echo
  echo "$rate"
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
