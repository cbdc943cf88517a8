#!/usr/bin/env bash
# What the agent allocates when the harness's 1-minute window closes over
# 10k series: builds the profiling agent (-tags profile), runs one live
# harness round of 70 s (10k msgs/s, 10k series; scripts/bench, mosquitto
# on loopback) and, every 2 s, records the agent's VmHWM and heap figures
# and saves an allocation profile. Then it compares the two profiles
# around the first rise of VmHWM after the warm-up (the close) and prints
# the allocation stacks of 256 KB or more between them, and the heap
# figures of every sample (HeapSys growing by MBs at a close).
#
#   scripts/close-profile.sh [outdir]     outdir default: a temporary one
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin"
out=${1:-$(mktemp -d)}
mkdir -p "$out"
go build -o "$out/bench" ./scripts/bench
CGO_ENABLED=0 go build -tags profile -o "$out/riv-prof" ./cmd/agent
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

RIVULET_PROFILE_MEMRATE=8192 RIVULET_PROFILE_LISTEN=127.0.0.1:$port \
	"$out/bench" -rivulet "$out/riv-prof" -rounds 1 -no-bare -strace=false \
	-mode live -qos 1 -rate 10000 -series 10000 -warmup 12s -duration 60s \
	>"$out/bench.out" 2>&1 &
bench=$!
trap 'kill $bench 2>/dev/null || true' EXIT

: >"$out/samples.txt"
i=0
while kill -0 $bench 2>/dev/null; do
	pid=$(pgrep -f "^$out/riv-prof" | head -1 || true)
	if [ -n "$pid" ] && curl -s --max-time 2 "http://127.0.0.1:$port/debug/pprof/allocs" >"$out/p$i.pb.gz" 2>/dev/null; then
		hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
		heap=$(curl -s --max-time 2 "http://127.0.0.1:$port/debug/pprof/heap?debug=1" |
			awk '$1 == "#" && ($2 == "HeapSys" || $2 == "HeapInuse" || $2 == "HeapReleased") {printf "%s=%.1fMB ", $2, $4/1048576}')
		echo "$i $(date +%T) VmHWM=${hwm}kB $heap" >>"$out/samples.txt"
		i=$((i + 1))
	fi
	sleep 2
done
wait $bench || true
trap - EXIT
grep '^| QoS' "$out/bench.out" || true
cat "$out/samples.txt"

# The close: the largest rise of VmHWM between two samples after the
# first 20 s (start-up and warm-up grow it too).
read -r a b < <(awk '{split($3, h, "="); v = h[2] + 0; if (NR > 10 && v - prev > best) {best = v - prev; at = $1}; prev = v}
	END {if (at == "") at = 11; print at - 1, at}' "$out/samples.txt")
echo "== allocations between sample $a and sample $b, stacks of 256 KB or more"
go tool pprof -sample_index=alloc_space -traces -base "$out/p$a.pb.gz" "$out/riv-prof" "$out/p$b.pb.gz" 2>/dev/null |
	awk 'BEGIN {RS = "-----------[+]-------------------------------------------------------"}
	!/pprof/ && match($0, /bytes: *[0-9.]+[kM]B/) {
		v = substr($0, RSTART, RLENGTH); sub(/bytes: */, "", v)
		kb = (v ~ /MB$/) ? v * 1024 : v + 0
		if (kb < 256) next
		n = split($0, l, "\n"); s = v; k = 0
		for (j = 1; j <= n && k < 7; j++) {
			f = l[j]; gsub(/^ +| +$/, "", f)
			if (f == "" || f ~ /^bytes:/ || f ~ /\(inline\)$/) continue
			sub(/^[0-9.]+[kM]?B +/, "", f)
			s = s " " (k ? "<- " : "") f; k++
		}
		print s
	}'
echo "profiles and samples in $out"
