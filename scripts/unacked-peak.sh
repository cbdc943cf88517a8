#!/usr/bin/env bash
# The most QoS 1 messages the agent holds unacknowledged while it drains a
# backlog: runs one harness drain (scripts/bench, mosquitto on loopback)
# and polls the agent's rivulet_source_unacked_messages every 100 ms.
# Shows whether the broker keeps to its inflight window (mosquitto 2.0.11
# does not, for a queued backlog) and that the agent stops at
# batch.dedupe (8192).
#
#   scripts/unacked-peak.sh [BIN] [bench flags]   BIN default bin/rivulet
#   e.g. scripts/unacked-peak.sh bin/rivulet -messages 600000 -inflight 20
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin"
bin=${1:-bin/rivulet}
[ $# -gt 0 ] && shift
[ -x "$bin" ] || make build >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/bench" ./scripts/bench
# A name of its own, to find the agent's listening ports.
cp "$bin" "$tmp/rivulet-unacked-probe"
"$tmp/bench" -rivulet "$tmp/rivulet-unacked-probe" -rounds 1 -no-bare -strace=false \
  -mode drain -qos 1 -series 10000 -messages 600000 "$@" >"$tmp/bench.out" 2>/dev/null &
pid=$!
peak=0
while kill -0 "$pid" 2>/dev/null; do
  for p in $(ss -ltnp 2>/dev/null | grep rivulet-unacked | grep -o '127.0.0.1:[0-9]*' | sort -u); do
    v=$(curl -s -m 0.5 "http://$p/metrics" | awk '/^rivulet_source_unacked_messages/ {print int($2)}' | sort -n | tail -1)
    [ -n "$v" ] && [ "$v" -gt "$peak" ] && peak=$v
  done
  sleep 0.1
done
wait "$pid"
tail -1 "$tmp/bench.out"
echo "peak rivulet_source_unacked_messages: $peak"
