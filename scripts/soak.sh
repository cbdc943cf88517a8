#!/usr/bin/env bash
# soak.sh — run rivulet under steady load and sample it every INTERVAL:
# heap, goroutines, RSS, open fds, ingest-log segments, outbox entries. For a
# healthy agent every column but the counters stays flat. Not run in CI.
#
#   scripts/soak.sh [--duration 1h] [--interval 10s] [--sensors 20] [--rate 100ms]
#
# It builds bin/rivulet-soak, starts mosquitto (persistence on, loopback, a
# free port), the agent (1 MiB segments, 10 s windows, file sink) and
# `rivulet simulate` (zones x sensors, QoS 1), prints one table row per
# sample, then a verdict comparing the last third of the samples with the
# first third (after a warm-up). Everything it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin"
duration=1h interval=10s sensors=20 rate=100ms
while [ $# -gt 0 ]; do
  case "$1" in
  --duration) duration=$2; shift 2 ;;
  --interval) interval=$2; shift 2 ;;
  --sensors) sensors=$2; shift 2 ;;
  --rate) rate=$2; shift 2 ;;
  -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
  *) echo "soak.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
secs() { # 1h, 5m, 30s, 90 -> seconds
  case "$1" in
  *h) echo $((${1%h} * 3600)) ;; *m) echo $((${1%m} * 60)) ;; *s) echo "${1%s}" ;; *) echo "$1" ;;
  esac
}
total=$(secs "$duration") step=$(secs "$interval")
work=$(mktemp -d /tmp/rivulet-soak.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

go build -o bin/rivulet-soak ./cmd/agent
mport=$(freeport) hport=$(freeport)
user=""
[ "$(id -u)" = 0 ] && user="user root"
cat >"$work/mosquitto.conf" <<EOF
listener $mport 127.0.0.1
allow_anonymous true
persistence true
persistence_location $work/
max_inflight_messages 200
max_queued_messages 1000000
$user
EOF
mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
pids+=($!)
cat >"$work/site.yaml" <<EOF
site: soak
data_dir: $work/data
log: {level: warn, format: text}
http: {listen: "127.0.0.1:$hport"}
sources:
  mqtt:
    - name: sensors
      broker: tcp://127.0.0.1:$mport
      client_id: rivulet-soak
      qos: 1
      topics:
        - filter: greenhouse/+/+/temperature
          format: value
          measurement: temperature
          field: value
          tags: {zone: "{1}", sensor: "{2}"}
batch: {max_points: 10000, max_bytes: 4MiB, linger: 20ms}
wal: {durability: fsync, segment_size: 1MiB, max_size: 64MiB}
checkpoint: {interval: 10s}
pipeline:
  - name: temperature_10s
    measurement: temperature
    window: {type: tumbling, size: 10s, max_delay: 2s, idle_timeout: 5s}
    group_by: [zone, sensor]
    aggregates: [count, mean, min, max]
    to: [local]
sinks:
  - name: local
    type: file
    path: $work/results.lp
    max_size: 8MiB
    max_files: 2
EOF
sleep 0.5
./bin/rivulet-soak run --config "$work/site.yaml" >"$work/agent.log" 2>&1 &
agent=$!
pids+=("$agent")
./bin/rivulet-soak simulate --broker "tcp://127.0.0.1:$mport" --zones 4 --sensors "$sensors" \
  --interval "$rate" --qos 1 >"$work/simulate.log" 2>&1 &
pids+=($!)

metric() { awk -v k="$1" '$1 == k { print $2; exit }' "$work/metrics"; }
printf '%8s %10s %10s %8s %8s %5s %5s %9s %10s\n' elapsed heap_MiB rss_MiB hwm_MiB gorout fds segs outbox messages
start=$(date +%s)
rows="$work/rows"
: >"$rows"
while :; do
  sleep "$step"
  now=$(($(date +%s) - start))
  if ! kill -0 "$agent" 2>/dev/null; then
    echo "agent exited:"; tail -20 "$work/agent.log"; exit 1
  fi
  curl -sf "http://127.0.0.1:$hport/metrics" >"$work/metrics" || { echo "no /metrics"; continue; }
  heap=$(metric go_memstats_heap_alloc_bytes)
  gor=$(metric go_goroutines)
  msgs=$(metric rivulet_messages_total)
  outbox=$(metric 'rivulet_outbox_entries{sink="local"}')
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$agent/status")
  hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$agent/status")
  fds=$(ls "/proc/$agent/fd" | wc -l)
  segs=$(find "$work/data" -type f | grep -c '/log/' || true)
  printf '%8s %10.1f %10.1f %8.1f %8s %5s %5s %9s %10s\n' "${now}s" "$(echo "$heap" | awk '{print $1/1048576}')" \
    "$(echo "$rss" | awk '{print $1/1024}')" "$(echo "$hwm" | awk '{print $1/1024}')" "$gor" "$fds" "$segs" "${outbox:-0}" "$(echo "${msgs:-0}" | awk '{printf "%.0f", $1}')"
  echo "$now $heap $rss $gor $fds $segs" >>"$rows"
  [ "$now" -ge "$total" ] && break
done
# Verdict: last third against first third (skipping the first 2 samples).
awk '
  { t[NR]=$1; heap[NR]=$2; rss[NR]=$3; g[NR]=$4; fd[NR]=$5; seg[NR]=$6 }
  function avg(a, from, to,   s, i) { s = 0; for (i = from; i <= to; i++) s += a[i]; return s / (to - from + 1) }
  END {
    if (NR < 8) { print "too few samples for a verdict (need 8)"; exit 0 }
    n = int((NR - 2) / 3); a = 3; b = a + n - 1; c = NR - n + 1
    split("heap rss goroutines fds segments", names, " ")
    bad = 0
    for (k = 1; k <= 5; k++) {
      if (k == 1) { x = avg(heap, a, b); y = avg(heap, c, NR) }
      if (k == 2) { x = avg(rss, a, b); y = avg(rss, c, NR) }
      if (k == 3) { x = avg(g, a, b); y = avg(g, c, NR) }
      if (k == 4) { x = avg(fd, a, b); y = avg(fd, c, NR) }
      if (k == 5) { x = avg(seg, a, b); y = avg(seg, c, NR) }
      grow = (x > 0) ? (y - x) / x : 0
      flag = (grow > 0.2 && y - x > 2) ? "GROWING" : "flat"
      if (flag != "flat") bad = 1
      printf "%-10s first third %.1f, last third %.1f (%+.0f%%): %s\n", names[k], x, y, grow * 100, flag
    }
    exit bad
  }' "$rows"
