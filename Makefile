# stockwire — the two commands: `make demo` runs the demo, `make test` runs every test.
GO ?= go
BIN ?= $(CURDIR)/bin
DEMO_ARGS ?=

.PHONY: build demo test bench vet packages

build:
	$(GO) build -o $(BIN)/ ./...

# The demo needs Debian's PostgreSQL binaries; .ci/ensure-packages installs
# them when it can (root on Debian/Ubuntu) and otherwise says what to install.
demo: build
	@.ci/ensure-packages postgresql
	$(BIN)/stockwire-demo --bin $(BIN) $(DEMO_ARGS)

# Tests start their own PostgreSQL, Prometheus and headless Chromium.
test: packages
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

packages:
	@.ci/ensure-packages postgresql prometheus chromium curl jq

# Figures: Go benchmarks, then the link benchmark command.
bench: packages
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) run ./shared/cmd/linkbench

vet:
	$(GO) vet ./...
