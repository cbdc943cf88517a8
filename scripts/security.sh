#!/usr/bin/env bash
# Security checks: the tests that pin rivulet's security behaviour, then
# govulncheck over the whole module.
#
#   scripts/security.sh
#
# The tests: mutual TLS to mosquitto refused with the wrong CA or without a
# client certificate (ingest; needs mosquitto, skipped without it unless
# RIVULET_REQUIRE_INTEROP=1), insecure_skip_verify refused without
# allow_insecure and warned about at every start (ingest, forward), every
# file under data_dir 0600 and every directory 0700 with umask 0, and
# secrets kept out of logs and metrics (cmd/agent).
#
# govulncheck is installed with `go install` when missing. It needs the Go
# vulnerability database (vuln.go.dev); where that is unreachable, point
# GOVULNDB at a mirror or a local copy (file:///path) — otherwise the script
# fails rather than report a check it could not make.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
export PATH="$PATH:/usr/local/go/bin:/usr/sbin"
gobin=$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin
export PATH="$PATH:$gobin"
fail=0

echo "== security tests"
if ! go test -race -count=1 \
  -run 'TLS|Insecure|TestDataDirModes|TestSecretsStayOut' \
  ./ingest/ ./forward/ ./cmd/agent/; then
  fail=1
fi

echo "== govulncheck ./..."
if ! command -v govulncheck >/dev/null 2>&1; then
  go install golang.org/x/vuln/cmd/govulncheck@latest || fail=1
fi
db=()
[ -n "${GOVULNDB:-}" ] && db=(-db "$GOVULNDB")
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if govulncheck "${db[@]}" ./... >"$out" 2>&1; then
  cat "$out"
else
  cat "$out"
  if grep -q 'fetching vulnerabilities' "$out"; then
    echo "govulncheck could not reach its database: NOT CHECKED (set GOVULNDB to a mirror)"
  fi
  fail=1
fi
exit $fail
