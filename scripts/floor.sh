#!/usr/bin/env bash
# The floor under rivulet's CPU per message for batched messages: QoS 1
# drains of 10 and 100 points per message at 10k series, measuring in
# alternation the bare paho subscriber as it is, the bare subscriber that
# also parses every payload's points once (bench -bare-parse, with
# rivulet's own line-protocol decoder), and rivulet with the standard
# pipeline, each round a separate bench run so that the three alternate.
# Prints the bench rows (markdown) for each round; take the medians.
# Needs mosquitto.
#
#   scripts/floor.sh              ROUNDS (default 3), RIVULET_BIN as for
#                                 scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${RIVULET_BIN:-bin/rivulet}
[ -n "${RIVULET_BIN:-}" ] || make build >/dev/null
rounds=${ROUNDS:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/bench" ./scripts/bench
echo "commit $(git describe --always --dirty --abbrev=7 2>/dev/null || echo unknown), $(nproc) cores, $(uname -m); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# points per message, messages per drain
for run in "10 200000" "100 50000"; do
  read -r points messages <<<"$run"
  common=(-rounds 1 -strace=false -mode drain -qos 1 -format influx -points "$points" -series 10000 -messages "$messages")
  for r in $(seq "$rounds"); do
    "$tmp/bench" "${common[@]}" -no-rivulet 2>/dev/null
    "$tmp/bench" "${common[@]}" -no-rivulet -bare-parse 2>/dev/null
    "$tmp/bench" "${common[@]}" -rivulet "$bin" -no-bare 2>/dev/null
  done
done
