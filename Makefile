# kilowatt - the two commands are `make demo` and `make test`.
# Each installs what it needs first (scripts/install-deps), so either works
# as the very first command on a fresh Debian 12 machine.

PREFIX ?= /usr/local
JOBS ?= 2

.PHONY: all deps build demo test bench install clean

all: build

deps:
	@scripts/install-deps

# Release build, used by demo, bench and install.
build: deps
	cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build build-release -j$(JOBS)

demo: build
	scripts/demo build-release/kilowatt

# Debug build with AddressSanitizer and UndefinedBehaviorSanitizer; every
# test (unit, black-box, format) runs through CTest.
test: deps
	cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DKW_SANITIZE=ON >/dev/null
	cmake --build build-test -j$(JOBS)
	cd build-test && ctest --output-on-failure --timeout 900

bench: build
	bench/run
	bench/brokers

# The prefix is also written into the systemd unit, so configure with it.
install: deps
	cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	cmake --build build-release -j$(JOBS)
	cmake --install build-release

clean:
	rm -rf build build-release build-test
