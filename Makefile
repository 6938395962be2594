# Tessera — what a developer types. `make demo` and `make test` do their own set-up on Debian 12.
PREFIX ?= $(HOME)/.local
SWIFT ?= $(shell command -v swift 2>/dev/null || echo /opt/swift/usr/bin/swift)
CONFIG ?= debug
SWIFTFLAGS ?=

.PHONY: all deps build release test demo bench install uninstall clean

all: build

deps:
	@scripts/deps.sh

build: deps
	$(SWIFT) build -c $(CONFIG) $(SWIFTFLAGS)

release: deps
	$(SWIFT) build -c release $(SWIFTFLAGS)

# The whole suite runs inside a throw-away desktop session (private bus, keyring, notifications).
test: deps
	$(SWIFT) build --build-tests $(SWIFTFLAGS)
	scripts/session.sh -- $(SWIFT) test --skip-build $(SWIFTFLAGS) $(TESTFLAGS)

demo: deps release
	scripts/demo.sh

bench: release
	@scripts/deps.sh --bench
	SWIFT="$(SWIFT)" SWIFTFLAGS="$(SWIFTFLAGS)" bench/run.sh

install: release
	scripts/install.sh "$(PREFIX)"

uninstall:
	scripts/install.sh --uninstall "$(PREFIX)"

clean:
	rm -rf .build
