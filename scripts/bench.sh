#!/usr/bin/env bash
# Throughput benchmark: rivulet vs a bare paho subscriber against mosquitto
# on loopback, plus the size of the static linux/arm64 binary. Appends a
# dated section to BENCHMARKS.md. Needs mosquitto (apt-get install mosquitto).
#
#   scripts/bench.sh [bench flags]   e.g. -messages 50000 -rounds 5 -inflight 1000
set -euo pipefail
cd "$(dirname "$0")/.."
make build >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/bench" ./scripts/bench
CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -trimpath -ldflags "-s -w" -o "$tmp/rivulet-arm64" ./cmd/agent
table=$("$tmp/bench" -rivulet bin/rivulet "$@")
arm64=$(stat -c %s "$tmp/rivulet-arm64")
{
  echo
  echo "### $(date -u +%Y-%m-%d) — commit $(git rev-parse --short HEAD) — $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -m)"
  echo
  echo "Command: \`scripts/bench.sh $*\`"
  echo
  echo "$table"
  echo
  echo "Static stripped linux/arm64 binary: $((arm64 / 1024 / 1024)).$(( (arm64 % 1048576) * 10 / 1048576 )) MiB ($arm64 bytes)."
} | tee -a BENCHMARKS.md
