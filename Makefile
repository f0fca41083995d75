# Thin wrapper around CMake: `make`, `make test`, `make asan`, `make bench`.
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= 2

.PHONY: all test asan bench format clean
all:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

test: all
	ctest --test-dir $(BUILD) --output-on-failure

asan:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCM_SANITIZE=ON -DCM_BUILD_BENCH=OFF
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ctest --test-dir $(ASAN_BUILD) --output-on-failure

bench: all
	scripts/bench.sh

format:
	clang-format -i core/*.c core/*.h include/carematch/*.h adapters/*/*.c adapters/*/*.h bench/*.c bench/city/*.c bench/city/*.h tests/*.c tests/support/*.c tests/support/*.h 2>/dev/null || true

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
