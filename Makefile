# Sluice: `make test` is what CI runs (see .ci/run); `make bench` the benchmarks; `make lint` the checks.
GO ?= go

.PHONY: test bench lint

test:
	$(GO) test -count=1 -timeout 14m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchtime 3x -count 1 ./...

lint:
	@test -z "$$(gofmt -l .)" || (gofmt -l .; echo "gofmt: the files above need formatting"; exit 1)
	$(GO) vet ./...
