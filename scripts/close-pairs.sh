#!/usr/bin/env bash
# Peak RSS of two agent binaries over a window close, in interleaved
# rounds: each round is one live harness run of 60 s (after 12 s of
# warm-up) at 10k QoS 1 msgs/s over 10k series, so the 1-minute window
# closes over 10k series inside it. Prints every round (peak RSS MB, its
# anonymous part, CPU µs/msg) and the medians of each binary. Needs
# mosquitto.
#
#   scripts/close-pairs.sh BEFORE AFTER [ROUNDS]     ROUNDS default 5
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin"
[ $# -ge 2 ] || { echo "usage: $0 BEFORE AFTER [ROUNDS]" >&2; exit 2; }
before=$(realpath "$1")
after=$(realpath "$2")
rounds=${3:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/bench" ./scripts/bench
for r in $(seq 1 "$rounds"); do
	for v in before after; do
		bin=$before
		[ $v = after ] && bin=$after
		# The table row: | run | consumer | msgs/s | ... | CPU µs/msg | ... | peak RSS MB (anon) | ...
		"$tmp/bench" -rivulet "$bin" -rounds 1 -no-bare -strace=false -mode live -qos 1 \
			-rate 10000 -series 10000 -warmup 12s -duration 60s 2>/dev/null | tail -1 |
			awk -F'|' -v v=$v -v r="$r" '{gsub(/[()]/, "", $9); split($9, m, " "); printf "%s %s %s %s %s\n", r, v, m[1], m[2], $7 + 0}' |
			tee -a "$tmp/rounds"
	done
done
median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
for v in before after; do
	echo "$v: median peak RSS $(awk -v v=$v '$2 == v {print $3}' "$tmp/rounds" | median) MB," \
		"anon $(awk -v v=$v '$2 == v {print $4}' "$tmp/rounds" | median) MB," \
		"CPU $(awk -v v=$v '$2 == v {print $5}' "$tmp/rounds" | median) µs/msg"
done
