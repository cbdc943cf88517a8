#!/usr/bin/env bash
# check-unit.sh checks packaging/rivulet.service offline: systemd-analyze
# verify must accept it, and `systemd-analyze security --offline=yes` must
# rate its exposure at or below MAX_EXPOSURE (2.5; 0 is fully locked down,
# 10 is unprotected). Prints the score and every setting still open.
#
# --offline needs systemd ≥ 252 (Debian 12); older versions can only rate
# loaded units of a running systemd, which a container does not have, so
# this script installs systemd with apt-get when systemd-analyze is missing
# and refuses a version without --offline.
set -euo pipefail
cd "$(dirname "$0")/.."

unit=${1:-packaging/rivulet.service}
max=${MAX_EXPOSURE:-2.5}

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "check-unit: installing systemd (for systemd-analyze)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi
ver=$(systemd-analyze --version | awk 'NR == 1 {print $2}')
if ((ver < 252)); then
	echo "check-unit: FAIL: systemd $ver has no 'security --offline' (needs 252+)" >&2
	exit 1
fi

# verify: syntax and known settings. It also complains that the binary is
# not installed here and about units we do not ship; keep only lines about
# our unit that are not that.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$unit" "$tmp/rivulet.service"
verify=$(systemd-analyze verify --man=no "$tmp/rivulet.service" 2>&1 |
	grep 'rivulet.service' | grep -v 'is not executable' || true)
if [[ -n $verify ]]; then
	echo "$verify"
	echo "check-unit: FAIL: systemd-analyze verify found problems in $unit"
	exit 1
fi

out=$(systemd-analyze security --offline=yes --no-pager "$tmp/rivulet.service" 2>&1) || true
score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
if [[ -z $score ]]; then
	echo "$out"
	echo "check-unit: FAIL: no exposure score from systemd-analyze security"
	exit 1
fi
grep '✗' <<<"$out" | sed 's/^/  open: /' || true
if awk -v s="$score" -v m="$max" 'BEGIN {exit !(s > m)}'; then
	echo "check-unit: FAIL: exposure $score > $max (systemd $ver)"
	exit 1
fi
echo "check-unit: ok: exposure $score <= $max (systemd $ver)"
