#!/usr/bin/env bash
# How much of rivulet's own binary is resident: runs the built-in demo
# (`rivulet run --demo`, nothing else needed) for a while, then counts, from
# /proc/PID/pagemap, the pages of each ELF section that are mapped in, next
# to the process's anonymous and file-backed RSS. Needs root (pagemap
# hides page frames otherwise, but not presence) and python3.
#
#   scripts/binary-rss.sh [seconds]      default 25
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-25}
[ -x bin/rivulet ] || make build >/dev/null
bin=$(pwd)/bin/rivulet
tmp=$(mktemp -d)
(cd "$tmp" && exec "$bin" run --demo >/dev/null 2>&1) &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
sleep "$secs"
# The demo's process is the exec'd rivulet itself.
grep -E 'VmHWM|VmRSS|RssAnon|RssFile' "/proc/$pid/status"
python3 - "$pid" "$bin" <<'EOF'
import struct, subprocess, sys
pid, binary = sys.argv[1], sys.argv[2]
out = subprocess.run(["readelf", "-S", "-W", binary], capture_output=True, text=True, check=True).stdout
page = 4096
with open(f"/proc/{pid}/pagemap", "rb") as pm:
    for line in out.splitlines():
        line = line.strip()
        if not line.startswith("[") or "]" not in line:
            continue
        f = line.split("]", 1)[1].split()
        try:
            name, addr, size = f[0], int(f[2], 16), int(f[4], 16)
        except (IndexError, ValueError):
            continue
        if addr == 0 or size < 64 << 10:
            continue
        first, end = addr // page, (addr + size + page - 1) // page
        pm.seek(first * 8)
        data = pm.read((end - first) * 8)
        present = sum(1 for i in range(end - first) if struct.unpack_from("<Q", data, i * 8)[0] >> 63)
        print(f"{name:12s} {size / 2**20:7.2f} MiB, resident {present * page / 2**20:7.2f} MiB")
EOF
