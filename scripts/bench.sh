#!/usr/bin/env bash
# Throughput, CPU, memory, fsync, write and latency benchmark of rivulet
# against mosquitto on loopback, next to a bare paho subscriber measured in
# the same run (method: scripts/bench/main.go and BENCHMARKS.md). Appends a
# dated section to BENCHMARKS.md. Needs mosquitto and strace
# (apt-get install mosquitto strace).
#
#   scripts/bench.sh                  the standard rows (about 15 minutes)
#   scripts/bench.sh [bench flags]    one row set, e.g. -mode live -qos 0 -rate 0
#
# ROUNDS (default 3) sets the rounds per row; RIVULET_BIN uses that binary
# instead of building bin/rivulet.
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
CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -trimpath -ldflags "-s -w" -o "$tmp/rivulet-arm64" ./cmd/agent
run() { "$tmp/bench" -rivulet "$bin" -rounds "$rounds" "$@"; }
if [ $# -gt 0 ]; then
  table=$(run -header "$@")
  cmd="scripts/bench.sh $*"
else
  table=$(
    run -header -mode drain -qos 1 -series 100 -messages 200000
    run -mode drain -qos 1 -series 10000 -messages 200000
    run -mode drain -qos 1 -series 10000 -messages 200000 -memory-limit 48MiB
    run -mode drain -qos 1 -series 100 -messages 200000 -min-interval 0s
    run -mode drain -qos 1 -series 100 -messages 200000 -inflight 3000
    run -mode drain -qos 1 -series 10000 -messages 200000 -rule anomaly
    run -mode drain -qos 1 -format influx -points 10 -series 10000 -messages 150000
    run -mode drain -qos 1 -format influx -points 100 -series 10000 -messages 30000
    run -mode live -qos 0 -rate 0 -series 100
    run -mode live -qos 0 -rate 0 -series 100 -queue 65536
    run -mode live -qos 1 -rate 10000 -series 10000
  )
  cmd="scripts/bench.sh (standard rows, ROUNDS=$rounds)"
fi
arm64=$(stat -c %s "$tmp/rivulet-arm64")
cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
{
  echo "### $(date -u +%Y-%m-%d) — commit $rev — $(nproc) cores ($cpu), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -m)"
  echo
  echo "Command: \`$cmd\`; load average before: $load0."
  echo
  echo "$table"
  echo
  echo "Medians of $rounds rounds; mosquitto 2 with persistence off, max_inflight_messages 1000, no queue limits."
  echo "Static stripped linux/arm64 binary: $((arm64 / 1024 / 1024)).$(( (arm64 % 1048576) * 10 / 1048576 )) MiB ($arm64 bytes)."
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
