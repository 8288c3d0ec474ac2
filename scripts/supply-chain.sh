#!/usr/bin/env bash
# Supply-chain checks: staticcheck, and govulncheck for vulnerabilities
# reachable from our code (standard library and modules).
#
# govulncheck normally reads https://vuln.go.dev. Where that host cannot be
# reached (CI here only reaches the Go module proxy), the same database is
# built from the Go vulnerability database's own repository,
# golang.org/x/vulndb, fetched through the module proxy: its data/osv
# folder holds every report as OSV JSON, and its cmd/indexdb writes the
# v1 database layout govulncheck reads with -db file://. The newest
# snapshot the proxy serves is used (VULNDB_VERSION pins one); each is
# built once and cached under ~/.cache/lensflow/vulndb.
#
# Environment: VULNDB (a database URL to use as is, e.g. https://vuln.go.dev),
# VULNDB_VERSION, GOVULNCHECK_VERSION, STATICCHECK_VERSION.
set -euo pipefail
cd "$(dirname "$0")/.."

GOVULNCHECK_VERSION=${GOVULNCHECK_VERSION:-v1.9.0}
STATICCHECK_VERSION=${STATICCHECK_VERSION:-v0.8.2}

echo "-- staticcheck $STATICCHECK_VERSION"
go run "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" ./...
echo "staticcheck: clean"

if [[ -z "${VULNDB:-}" ]]; then
  if [[ -z "${VULNDB_VERSION:-}" ]]; then
    VULNDB_VERSION=$(go list -m -f '{{.Version}}' golang.org/x/vulndb@latest)
  fi
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/lensflow/vulndb/$VULNDB_VERSION"
  if [[ ! -f "$cache/index/db.json" ]]; then
    echo "-- building the vulnerability database from golang.org/x/vulndb@$VULNDB_VERSION"
    src=$(go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [[ -d "$src/data/osv" ]] || { echo "no data/osv in $src" >&2; exit 1; }
    rm -rf "$cache.tmp" && mkdir -p "$(dirname "$cache")"
    GOFLAGS=-mod=mod go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" -vulns "$src/data/osv" -out "$cache.tmp"
    rm -rf "$cache" && mv "$cache.tmp" "$cache"
  fi
  VULNDB="file://$cache"
  echo "-- vulnerability database: golang.org/x/vulndb@$VULNDB_VERSION ($(find "$cache/ID" -name '*.json' | wc -l) reports)"
fi

echo "-- govulncheck $GOVULNCHECK_VERSION with $(go env GOVERSION)"
go run "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION" -db "$VULNDB" ./...
