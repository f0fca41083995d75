# Thin wrapper around CMake: `make`, `make test`, `make asan`, `make bench`,
# `make fuzz`, `make chaos`, `make soak`, `make demo` (the quick start).
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= 2

.PHONY: all test asan bench fuzz chaos soak demo format clean
all:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

test:
	scripts/test.sh

asan:
	scripts/test.sh --sanitize

bench: all
	scripts/bench.sh

fuzz:
	scripts/fuzz.sh

chaos: all
	scripts/chaos.sh

soak: all
	scripts/soak.sh

demo:
	scripts/quickstart.sh

format:
	scripts/format.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
