# SPDX-License-Identifier: GPL-2.0
#
# rovl: build the module against KDIR (default: the project's cached test
# kernel, built on first use), and run it in a QEMU guest.
#
#   make            build rovl.ko (and the test kernel if KDIR is not given)
#   make run        boot the guest, load rovl, mount a sample tree, show it
#   make check      run the differential test suite in the guest
#   make bench      benchmarks on the release kernel: native, overlay, rovl
#                   and fuse-overlayfs side by side (tools/bench/run)
#   make clean

FLAVOUR ?= debug
# The kernel tree: KDIR if given, else the cached test kernel, whose
# directory is only known once the kernel source is unpacked, so recipes
# ask for it when they run.
KDIR_OF = $(if $(KDIR),$(KDIR),$$(tools/kernel/dir $(FLAVOUR)))

TESTS_DIR := tools/testing/rovl-tests
TESTS_BIN := $(TESTS_DIR)/target/release/rovl-tests

.PHONY: all modules bootstrap kernel run check tests bench clean

all: modules

bootstrap:
	tools/bootstrap

kernel: bootstrap
	$(if $(KDIR),,tools/kernel/build $(FLAVOUR) >/dev/null)

modules: kernel
	+tools/kernel/module "$(KDIR_OF)" $(CURDIR)

tests: bootstrap
	cargo build --manifest-path $(TESTS_DIR)/Cargo.toml --release --locked --offline 2>/dev/null || \
		cargo build --manifest-path $(TESTS_DIR)/Cargo.toml --release --locked
	mkdir -p $(TESTS_DIR)/target
	clang -m32 -O2 -nostdlib -static -ffreestanding -fno-stack-protector -fuse-ld=lld \
		-o $(TESTS_DIR)/target/compat32 $(TESTS_DIR)/compat32.c
	clang -O2 -Wall -Wextra -Werror -o $(TESTS_DIR)/target/rorw samples/rorw.c

run: modules
	tools/vm/run -k "$(KDIR_OF)" -- tools/demo.sh

check: modules tests
	tools/testing/check "$(KDIR_OF)" $(CURDIR)/rovl.ko $(if $(FILTER),--filter $(FILTER))

# 20,000 files and entries for the big metadata workloads (the issue's
# 100,000: BENCH_ARGS="--scale 1"), so a fresh machine finishes in 30 min.
BENCH_ARGS ?= --scale 0.2
bench: bootstrap
	tools/bench/run $(BENCH_ARGS)

clean:
	$(MAKE) -C "$(KDIR_OF)" M=$(CURDIR) LLVM=1 clean 2>/dev/null || true
	rm -rf $(TESTS_DIR)/target tools/bench/rovl-bench/target
