#!/usr/bin/env bash
# rivulet next to another agent a gateway could run: collectd (Debian's
# collectd-core: its mqtt plugin subscribes, its csv plugin writes every
# reading to a file), with the bare paho subscriber as the baseline of each
# round, at live QoS 1 loads of one reading per message. Prints the bench
# table (medians of ROUNDS, default 3). Needs mosquitto and collectd-core.
#
#   scripts/peer.sh               RIVULET_BIN as for scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${RIVULET_BIN:-bin/rivulet}
[ -n "${RIVULET_BIN:-}" ] || make build >/dev/null
command -v collectd >/dev/null || { echo "peer.sh: collectd not found (apt-get install collectd-core)" >&2; exit 1; }
rounds=${ROUNDS:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/bench" ./scripts/bench
echo "commit $(git describe --always --dirty --abbrev=7 2>/dev/null || echo unknown), $(nproc) cores, $(uname -m), collectd-core $(dpkg-query -W -f '${Version}' collectd-core 2>/dev/null || echo "?"); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
"$tmp/bench" -header -rivulet "$bin" -rounds "$rounds" -strace=false -mode live -qos 1 -rate 10000 -series 10000 -peer collectd 2>/dev/null
"$tmp/bench" -rivulet "$bin" -rounds "$rounds" -strace=false -mode live -qos 1 -rate 10000 -series 100 -peer collectd 2>/dev/null
"$tmp/bench" -rivulet "$bin" -rounds "$rounds" -strace=false -mode live -qos 1 -rate 1000 -series 100 -peer collectd 2>/dev/null
