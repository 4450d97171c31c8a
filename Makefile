# stockwire — the two commands: `make demo` runs the demo, `make test` runs every test.
GO ?= go
BIN ?= $(CURDIR)/bin

.PHONY: build demo test bench vet

build:
	$(GO) build -o $(BIN)/ ./...

demo: build
	@echo "not yet: needs the agent"

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

vet:
	$(GO) vet ./...
