#!/usr/bin/env bash
# chaos.sh — rivulet's chaos / fault-injection suite (cmd/agent/chaos_test.go).
#
#   scripts/chaos.sh            full run: RIVULET_CHAOS_CYCLES (default 500)
#                               SIGKILL cycles, every other fault test
#                               RIVULET_CHAOS_RUNS times (default 3); the
#                               figures (medians over the runs) are written
#                               into RELIABILITY.md between the chaos markers
#   scripts/chaos.sh --short    CI: 20 SIGKILL cycles, each fault test once,
#                               with -race; nothing is written
#
# Needs mosquitto (Debian: /usr/sbin/mosquitto); the disk-full test needs
# root (it mounts a tmpfs) and is skipped otherwise. Everything listens on
# 127.0.0.1 only. The raw log goes to ${CHAOS_LOG:-/tmp/rivulet-chaos.log}.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin"
GO=${GO:-go}
short=0
write=1
for a in "$@"; do
  case "$a" in
  --short) short=1 write=0 ;;
  --no-write) write=0 ;;
  -h | --help)
    sed -n '2,15p' "$0"
    exit 0
    ;;
  *)
    echo "chaos.sh: unknown argument $a" >&2
    exit 2
    ;;
  esac
done
log=${CHAOS_LOG:-/tmp/rivulet-chaos.log}
export RIVULET_CHAOS=1
if [ "$short" = 1 ]; then
  export RIVULET_CHAOS_CYCLES=${RIVULET_CHAOS_CYCLES:-20}
  # The CI budget is 6 minutes on 2 cores; the suite takes about 2.
  exec "$GO" test -race -count=1 -timeout 6m -run 'Chaos|TestPercentile|TestTally' ./cmd/agent/
fi

cycles=${RIVULET_CHAOS_CYCLES:-500}
runs=${RIVULET_CHAOS_RUNS:-3}
: >"$log"
status=0
# The kill loop once with many cycles (its recovery figures are percentiles
# over the cycles), the other tests $runs times (medians over the runs).
RIVULET_CHAOS_CYCLES=$cycles "$GO" test -count=1 -v -timeout 90m -run 'TestChaosKillLoop' ./cmd/agent/ >>"$log" 2>&1 || status=$?
"$GO" test -count="$runs" -v -timeout 60m -run 'TestChaos(BrokerAndNetwork|DiskFull|OutageBurst)' ./cmd/agent/ >>"$log" 2>&1 || status=$?
grep -E '^(--- |=== RUN|    --- |ok|FAIL|PASS)' "$log" | grep -v '=== RUN' || true
grep '^CHAOS-FIGURES ' "$log" || true
if [ "$write" = 1 ]; then
  # CHAOS_COMMIT names the commit when the tree is not a git checkout.
  commit=${CHAOS_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
  if [ -z "${CHAOS_COMMIT:-}" ] && [ -n "$(git status --porcelain 2>/dev/null | grep -v '^??' || true)" ]; then
    commit="$commit (with uncommitted changes)"
  fi
  model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
  CHAOS_CMD_KILL="RIVULET_CHAOS=1 RIVULET_CHAOS_CYCLES=$cycles go test -count=1 -v -run TestChaosKillLoop ./cmd/agent/" \
    CHAOS_CMD_REST="RIVULET_CHAOS=1 go test -count=$runs -v -run 'TestChaos(BrokerAndNetwork|DiskFull|OutageBurst)' ./cmd/agent/" \
    CHAOS_DATE=$(date -u '+%Y-%m-%d %H:%M UTC') CHAOS_COMMIT=$commit CHAOS_MACHINE="$(nproc) cores, $model, $(uname -sr)" \
    CHAOS_STATUS=$status python3 - "$log" RELIABILITY.md <<'EOF'
import json, os, re, statistics, sys
log, doc = sys.argv[1], sys.argv[2]
runs = {}
for line in open(log):
    if line.startswith("CHAOS-FIGURES "):
        f = json.loads(line[len("CHAOS-FIGURES "):])
        runs.setdefault(f.pop("test"), []).append(f)
def med(vals):
    nums = [v for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(nums) != len(vals):
        return vals[0]
    m = statistics.median(nums)
    return float(f"{m:.3g}") if isinstance(m, float) else m
out = ["<!-- chaos:begin (written by scripts/chaos.sh; edit around it) -->", "",
       f"Run {os.environ['CHAOS_DATE']}, commit {os.environ['CHAOS_COMMIT']}, {os.environ['CHAOS_MACHINE']}; "
       f"go test exit status {os.environ['CHAOS_STATUS']}.", ""]
for test in sorted(runs):
    rs = runs[test]
    cmd = os.environ["CHAOS_CMD_KILL"] if test == "kill-loop" else os.environ["CHAOS_CMD_REST"]
    note = "one run; percentiles over its cycles" if test == "kill-loop" else f"median of {len(rs)} runs"
    out += [f"**{test}** ({note}) — `{cmd}`", "", "| figure | value |", "|---|---|"]
    for k in sorted(rs[0]):
        vals = [r.get(k) for r in rs]
        v = med(vals)
        if isinstance(v, list):
            v = "; ".join(v)
        out.append(f"| {k} | {v} |")
    out.append("")
out.append("<!-- chaos:end -->")
text = open(doc).read() if os.path.exists(doc) else ""
block = "\n".join(out)
if "<!-- chaos:begin" in text:
    text = re.sub(r"<!-- chaos:begin.*?<!-- chaos:end -->", lambda _: block, text, flags=re.S)
else:
    text += "\n" + block + "\n"
open(doc, "w").write(text)
print(f"figures written to {doc}")
EOF
fi
exit $status
