# Tessera — what a developer types. `make demo` and `make test` do their own set-up on Debian 12.
PREFIX ?= $(HOME)/.local
SWIFT ?= $(shell command -v swift 2>/dev/null || echo /opt/swift/usr/bin/swift)
CONFIG ?= debug
SWIFTFLAGS ?=
# Suites share one session (bus name io.tessera.Agent1, the notification server): run them one at a time.
TESTFLAGS ?= --no-parallel

.PHONY: all deps build release test fuzz stress demo bench install uninstall clean dbus-xml

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

# libFuzzer over every parser of untrusted input, FUZZ_SECONDS (default 90) per harness; not part
# of `make test`. How the harnesses are built: scripts/fuzz.sh's header.
fuzz: deps
	SWIFT="$(SWIFT)" scripts/fuzz.sh

# Fuzzed calls, fd-carrying calls, provider faults and SIGKILLs against tesserad, with counts
# (scripts/stress.sh; not part of `make test`).
stress: deps
	SWIFT="$(SWIFT)" scripts/stress.sh

demo: deps release
	scripts/demo.sh

bench: release
	@scripts/deps.sh --bench
	SWIFT="$(SWIFT)" SWIFTFLAGS="$(SWIFTFLAGS)" bench/run.sh

install: release
	scripts/install.sh "$(PREFIX)"

uninstall:
	scripts/install.sh --uninstall "$(PREFIX)"

# Regenerates the checked-in introspection XML from the contract (a test keeps them equal).
dbus-xml: build
	$(SWIFT) run -c $(CONFIG) tesserad --print-introspection > dbus/io.tessera.Agent1.xml

clean:
	rm -rf .build
