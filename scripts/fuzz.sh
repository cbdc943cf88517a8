#!/usr/bin/env bash
# Runs every Fuzz target of the module, one at a time, for FUZZTIME each
# (default 30s), and prints a table: package, target, seconds, execs, result.
# Targets are found by grepping the *_test.go files for "func Fuzz", so a new
# one is picked up without editing this script. Seeds live in each
# package's testdata/fuzz/<FuzzName>/; what a run learns stays in the Go
# build cache. A failing input is written to testdata/fuzz/<FuzzName>/ by
# go test itself: commit it with the fix, it then runs in every `go test`.
#
#   scripts/fuzz.sh                      every target, 30 s each
#   FUZZTIME=5m scripts/fuzz.sh ./wal    the targets of ./wal, 5 min each
#   FUZZ_MATCH=Decode scripts/fuzz.sh    the targets whose name contains Decode
#
# FUZZ_MINIMIZE (default 5s) caps the minimization of each new input: with
# go's default (60s) a run can spend most of its time minimizing inputs
# that only add coverage, with no execs counted (seen with go 1.26).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
export PATH="$PATH:/usr/local/go/bin"
FUZZTIME=${FUZZTIME:-30s}
FUZZ_MINIMIZE=${FUZZ_MINIMIZE:-5s}
FUZZ_MATCH=${FUZZ_MATCH:-}
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

# targets prints "<package dir> <FuzzName>" for every Fuzz function in the
# given directories (default: the whole module), sorted.
targets() {
  local roots=("$@")
  [ ${#roots[@]} -eq 0 ] && roots=(.)
  grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*(' "${roots[@]}" |
    sed -E 's#^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\($#\1 \2#' |
    sed -E 's#^\./##; s#^([^.])#./\1#' | sort -u
}

fail=0
total_start=$(date +%s)
printf '%-14s %-24s %6s %12s  %s\n' package target secs execs result
while read -r pkg name; do
  [ -n "$FUZZ_MATCH" ] && [[ "$name" != *"$FUZZ_MATCH"* ]] && continue
  out="$log/$(echo "$pkg-$name" | tr '/.' '__').log"
  start=$(date +%s)
  if go test -run XXX -fuzz "^${name}\$" -fuzztime "$FUZZTIME" \
    -fuzzminimizetime "$FUZZ_MINIMIZE" "$pkg" >"$out" 2>&1; then
    result=ok
  else
    result=FAIL
    fail=1
  fi
  secs=$(($(date +%s) - start))
  execs=$(grep -o 'execs: [0-9]*' "$out" | tail -1 | cut -d' ' -f2)
  printf '%-14s %-24s %6s %12s  %s\n' "$pkg" "$name" "$secs" "${execs:-?}" "$result"
  if [ "$result" = FAIL ]; then
    grep -v '^fuzz: elapsed' "$out" | tail -40 | sed 's/^/    /'
  fi
done < <(targets "$@")
echo "total: $(($(date +%s) - total_start)) s"
exit $fail
