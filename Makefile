# rivulet — build, test, demo, cross-compile.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# TAGS=nokafka leaves the Kafka sink out: a binary about 5 MB smaller.
TAGS     ?=
BUILD    := CGO_ENABLED=0 $(GO) build -trimpath -tags "$(TAGS)" -ldflags "$(LDFLAGS)"

.PHONY: build test demo lint cross bench bench-mqtt clean deb check-unit packaging install chaos fuzz security

## build: the static, stripped binary at bin/rivulet
build:
	$(BUILD) -o bin/rivulet ./cmd/agent

## test: lint, then every test with the race detector (interop tests run when
## mosquitto and influxd are installed; RIVULET_REQUIRE_INTEROP=1 makes them mandatory)
test: lint
	$(GO) test -race -count=1 -timeout 30m ./...

## demo: embedded broker + simulated sensors + 10 s windows; Ctrl-C stops it
demo: build
	./bin/rivulet run --demo

## lint: gofmt and go vet must be clean
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## cross: static binaries for linux amd64, arm64, armv7, armv6 in dist/
cross:
	mkdir -p dist
	GOOS=linux GOARCH=amd64 $(BUILD) -o dist/rivulet-linux-amd64 ./cmd/agent
	GOOS=linux GOARCH=arm64 $(BUILD) -o dist/rivulet-linux-arm64 ./cmd/agent
	GOOS=linux GOARCH=arm GOARM=7 $(BUILD) -o dist/rivulet-linux-armv7 ./cmd/agent
	GOOS=linux GOARCH=arm GOARM=6 $(BUILD) -o dist/rivulet-linux-armv6 ./cmd/agent
	@ls -l dist/

## deb: .deb packages in dist/ for amd64, arm64 and armhf (the armhf one
## carries the ARMv6 binary, so it installs on every Raspberry Pi)
deb: cross
	bash scripts/deb.sh

## check-unit: systemd-analyze verify + security exposure <= 2.5 of the unit
check-unit:
	bash scripts/check-unit.sh

## packaging: the packaging checks of CI (qemu runs of the ARM binaries,
## the .debs installed and purged, install.sh, the unit); root, Debian
packaging:
	bash scripts/ci-packaging.sh

## install: install.sh with bin/rivulet (PREFIX=/usr/local; DESTDIR=dir to
## install under another root)
PREFIX ?= /usr/local
install: build
	sh scripts/install.sh --binary bin/rivulet --prefix $(PREFIX) $(if $(DESTDIR),--root $(DESTDIR))

## bench: the micro-benchmarks of every stage (ns/op, allocs/op, points/s;
## see BENCHMARKS.md)
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## bench-mqtt: the throughput benchmark against mosquitto (see BENCHMARKS.md)
bench-mqtt:
	bash scripts/bench.sh

## fuzz: every Fuzz target of the module for FUZZTIME each (default 30s);
## seeds in <pkg>/testdata/fuzz/<FuzzName>/ (see scripts/fuzz.sh)
fuzz:
	bash scripts/fuzz.sh

## security: govulncheck over ./... and the TLS, insecure-flag and file-mode
## tests (see scripts/security.sh)
security:
	bash scripts/security.sh

## chaos: the full chaos suite (500 SIGKILL cycles, broker restarts, network
## faults, disk full, outage + burst; see RELIABILITY.md) — writes its
## figures into RELIABILITY.md; root for the disk-full test
chaos:
	bash scripts/chaos.sh

clean:
	rm -rf bin dist demo-data
