# tardis — see README.md.  `make`, `make test`, `make bench`, `make demo`,
# `make install`, `make vmtest`, `make compat`, `make clean`; `make SAN=1` for ASan/UBSan.
.DELETE_ON_ERROR:

OUT      ?= build
PREFIX   ?= /usr/local
DESTDIR  ?=
CLANG    ?= clang
BPFTOOL  ?= bpftool
CC       ?= gcc
ARCH     := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')

CFLAGS   ?= -O2 -g
CFLAGS   += -Wall -Wextra -Wno-unused-parameter -Wno-format-truncation -Werror -std=gnu11 -D_GNU_SOURCE \
            -Iinclude -Iuser/lib -I$(OUT)
LDLIBS   += -lbpf -lelf -lz -lcjson
# libarchive: its headers only; filediff_tar.c opens it at its first use.
CFLAGS   += $(shell pkg-config --cflags libarchive)
ifeq ($(SAN),1)
OUT      := build/san
CC       := clang
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
            -Wno-unknown-warning-option
LDFLAGS  += -fsanitize=address,undefined
endif

# The library (user/lib/) and one directory per program: user/tardisd/,
# user/tardisctl/, shim/ (tardis-runc).  Programs use the library; the
# library uses include/; nothing in the library reaches into a program.
LIB_HDRS := $(wildcard user/lib/*.h include/*.h)
LIB_SRCS := $(wildcard user/lib/*.c)
LIB_OBJS := $(patsubst user/lib/%.c,$(OUT)/lib/%.o,$(LIB_SRCS))
TARDISD_SRCS   := $(wildcard user/tardisd/*.c)
TARDISCTL_SRCS := $(wildcard user/tardisctl/*.c)
SHIM_SRCS      := $(wildcard shim/*.c)
LIB      := $(OUT)/libtardis.a
BPF_OBJ  := $(OUT)/tardis_exit.bpf.o
SKEL     := $(OUT)/tardis_exit.skel.h
PROGS    := $(OUT)/tardisd $(OUT)/tardisctl $(OUT)/tardis-runc $(OUT)/tardis-runc-full
# test_pin_layout.sh: the BPF object of "another release", its event larger / smaller.
LAYOUT_TEST_OBJS := $(OUT)/tests/tardis_exit_comm24.bpf.o $(OUT)/tests/tardis_exit_comm8.bpf.o
TEST_PROGS := $(OUT)/tests/unit $(OUT)/tests/exit_scenarios $(OUT)/tests/exit_burst $(OUT)/tests/concurrency \
              $(OUT)/tests/bench_bpf $(OUT)/tests/bench_exec $(OUT)/tests/bench_exec_static $(OUT)/tests/pin_layout $(OUT)/tests/lease_race \
              $(LAYOUT_TEST_OBJS)

all: $(PROGS) $(TEST_PROGS)

$(OUT) $(OUT)/lib $(OUT)/tests $(OUT)/obj/tardisd $(OUT)/obj/tardisctl $(OUT)/shim $(OUT)/shim/front:
	mkdir -p $@

$(OUT)/vmlinux.h: | $(OUT)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(BPF_OBJ): bpf/tardis_exit.bpf.c include/tardis_exit.h $(OUT)/vmlinux.h
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Iinclude -I$(OUT) -c $< -o $@

$(OUT)/tests/tardis_exit_comm%.bpf.o: bpf/tardis_exit.bpf.c include/tardis_exit.h $(OUT)/vmlinux.h | $(OUT)/tests
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -DTARDIS_LAYOUT_TEST_COMM_LEN=$* -Iinclude -I$(OUT) -c $< -o $@

$(SKEL): $(BPF_OBJ)
	$(BPFTOOL) gen skeleton $< name tardis_exit_bpf > $@

$(OUT)/lib/%.o: user/lib/%.c $(LIB_HDRS) $(SKEL) | $(OUT)/lib
	$(CC) $(CFLAGS) -c $< -o $@

# XXH3's AVX2 code, called only on a CPU that has it (checksum.c).
ifeq ($(ARCH),x86)
$(OUT)/lib/checksum_avx2.o: CFLAGS += -mavx2
endif

$(LIB): $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

TARDISD_OBJS   := $(patsubst user/tardisd/%.c,$(OUT)/obj/tardisd/%.o,$(TARDISD_SRCS))
TARDISCTL_OBJS := $(patsubst user/tardisctl/%.c,$(OUT)/obj/tardisctl/%.o,$(TARDISCTL_SRCS))
SHIM_OBJS      := $(patsubst shim/%.c,$(OUT)/shim/%.o,$(SHIM_SRCS))
# What the unit tests link from the shim: everything but its main().
SHIM_LIB_OBJS  := $(filter-out $(OUT)/shim/main.o,$(SHIM_OBJS))

$(OUT)/obj/tardisd/%.o: user/tardisd/%.c $(wildcard user/tardisd/*.h) $(LIB_HDRS) $(SKEL) | $(OUT)/obj/tardisd
	$(CC) $(CFLAGS) -Iuser/tardisd -c $< -o $@

$(OUT)/obj/tardisctl/%.o: user/tardisctl/%.c $(wildcard user/tardisctl/*.h) $(LIB_HDRS) $(SKEL) | $(OUT)/obj/tardisctl
	$(CC) $(CFLAGS) -Iuser/tardisctl -c $< -o $@

$(OUT)/shim/%.o: shim/%.c $(wildcard shim/*.h) $(LIB_HDRS) | $(OUT)/shim
	$(CC) $(CFLAGS) -Ishim -c $< -o $@

$(OUT)/tardisd: $(TARDISD_OBJS) $(LIB)
	$(CC) $(LDFLAGS) $(TARDISD_OBJS) $(LIB) $(LDLIBS) -o $@

# tardis-runc is the front (shim/front/): linked statically, it passes the
# calls tardis has no part in to runc without a dynamic loader and execs
# tardis-runc-full for the rest.  With musl (musl-tools) where there is:
# glibc's start-up alone costs ~0.3 ms a process in this VM (its CPU
# feature and cache probes: cpuid, a VM exit each) -- a do-nothing static
# program 440 us from spawn to reap with glibc, 155 us with musl.  Built
# from its sources and the few of the library it uses (FRONT_SRCS), with
# the kernel's and cJSON's headers beside musl's.  Else glibc, static;
# SAN=1: dynamic (ASan cannot link statically).  --as-needed:
# tardis-runc-full reaches the pinned maps with plain bpf(2) calls, so it
# loads neither libbpf, libelf nor zlib.
MUSL_GCC ?= $(shell command -v musl-gcc 2>/dev/null)
FRONT_SRCS := shim/front/main.c shim/runc_args.c shim/runc_exec.c \
              $(patsubst %,user/lib/%.c,config deadline error log skip_start state util)
ifeq ($(SAN)$(if $(MUSL_GCC),musl,),musl)
FRONT_OBJS := $(patsubst %.c,$(OUT)/front-musl/%.o,$(FRONT_SRCS))
MUSL_INC   := $(OUT)/front-musl/include
$(MUSL_INC):
	mkdir -p $@
	for d in cjson linux asm-generic; do ln -sfn /usr/include/$$d $@/$$d; done
	ln -sfn /usr/include/$$($(CC) -print-multiarch)/asm $@/asm

$(OUT)/front-musl/%.o: %.c $(wildcard shim/*.h) $(LIB_HDRS) | $(MUSL_INC)
	@mkdir -p $(dir $@)
	$(MUSL_GCC) $(CFLAGS) -Ishim -I$(MUSL_INC) -c $< -o $@

$(OUT)/tardis-runc: $(FRONT_OBJS)
	$(MUSL_GCC) $(LDFLAGS) -static $(FRONT_OBJS) -o $@
else
FRONT_OBJS := $(OUT)/shim/front/main.o $(OUT)/shim/runc_args.o $(OUT)/shim/runc_exec.o
ifneq ($(SAN),1)
FRONT_LDFLAGS := -static
endif
$(OUT)/shim/front/main.o: shim/front/main.c $(wildcard shim/*.h) $(LIB_HDRS) | $(OUT)/shim/front
	$(CC) $(CFLAGS) -Ishim -c $< -o $@

$(OUT)/tardis-runc: $(FRONT_OBJS) $(LIB)
	$(CC) $(LDFLAGS) $(FRONT_LDFLAGS) $(FRONT_OBJS) $(LIB) -o $@
endif

$(OUT)/tardis-runc-full: $(SHIM_OBJS) $(LIB)
	$(CC) $(LDFLAGS) $(SHIM_OBJS) $(LIB) -Wl,--as-needed $(LDLIBS) -o $@

$(OUT)/tardisctl: $(TARDISCTL_OBJS) $(LIB)
	$(CC) $(LDFLAGS) $(TARDISCTL_OBJS) $(LIB) $(LDLIBS) -o $@

$(OUT)/tests/unit: $(wildcard tests/unit/*.c tests/unit/*.h) $(SHIM_LIB_OBJS) $(LIB) | $(OUT)/tests
	$(CC) $(CFLAGS) -Ishim $$(pkg-config --cflags check) $(LDFLAGS) $(filter %.c,$^) $(SHIM_LIB_OBJS) $(LIB) $(LDLIBS) $$(pkg-config --libs check) -o $@

$(OUT)/tests/%: tests/integration/%.c $(LIB) | $(OUT)/tests
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(LIB) $(LDLIBS) -lpthread -o $@

# The floor of an exec wrapper: bench_exec's `exec` linked statically (no
# dynamic loader at all), beside the dynamically linked one; never
# sanitized (ASan cannot link statically).
$(OUT)/tests/bench_exec_static: tests/bench/bench_exec.c | $(OUT)/tests
	$(CC) -O2 -Wall -Wextra -Werror -std=gnu11 -D_GNU_SOURCE -static $< -o $@

$(OUT)/tests/bench_%: tests/bench/bench_%.c $(LIB) | $(OUT)/tests
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(LIB) $(LDLIBS) -lpthread -o $@

test: all
	OUT=$(OUT) tests/run-all.sh

unit: $(OUT)/tests/unit
	$(OUT)/tests/unit

bench: all
	OUT=$(OUT) tests/bench/bench.sh

demo: all
	OUT=$(OUT) scripts/demo.sh

vmtest: all
	OUT=$(OUT) vmtest/run.sh

# The BPF filter's cost (tests/integration/test_bpf_cost.sh) on this host
# and every kernel of vmtest.
vmtest-bpfcost: all
	OUT=$(OUT) VMTEST_ONLY_SCENARIOS=bpf_cost vmtest/run.sh

compat: all
	OUT=$(OUT) compat/run.sh

# The binaries in PREFIX/bin, the unit, a default config (an existing one is
# the operator's and is kept), the README as the unit's documentation.
# The CRIU that scripts/setup.sh built (build-criu.sh's version) goes to
# LIBEXECDIR; a new config names it when the system's CRIU is missing or
# fails `criu check` (Debian 12's 3.17 on 6.x kernels).
SYSCONFDIR ?= /etc
UNITDIR    ?= /lib/systemd/system
DOCDIR     ?= $(PREFIX)/share/doc/tardis
LIBEXECDIR ?= $(PREFIX)/libexec/tardis
CRIU_BUILT ?= build/criu/criu-$(shell sed -n 's/^CRIU_VERSION=//p' scripts/build-criu.sh)/criu/criu
install: $(PROGS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/tardis \
		$(DESTDIR)$(DOCDIR)
	install -m 0755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@BINDIR@|$(PREFIX)/bin|g' -e 's|@DOCDIR@|$(DOCDIR)|g' packaging/tardisd.service \
		> $(DESTDIR)$(UNITDIR)/tardisd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/tardisd.service
	[ ! -x $(CRIU_BUILT) ] || { install -d $(DESTDIR)$(LIBEXECDIR) && \
		install -m 0755 $(CRIU_BUILT) $(DESTDIR)$(LIBEXECDIR)/criu; }
	[ -e $(DESTDIR)$(SYSCONFDIR)/tardis/tardis.conf ] || \
		packaging/install-config.sh packaging/tardis.conf $(DESTDIR)$(SYSCONFDIR)/tardis/tardis.conf \
			$(DESTDIR)$(LIBEXECDIR)/criu $(LIBEXECDIR)/criu
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md

clean:
	rm -rf build

.PHONY: all test unit bench demo vmtest vmtest-bpfcost compat install clean

# ---- fuzzing: libFuzzer + ASan/UBSan (clang), tests/fuzz/ -----------------
# The library is rebuilt with the fuzzing flags into build/fuzz/ (never
# build/libtardis.a, which is gcc-built without sanitizers).  `make fuzz`
# runs every target FUZZ_SECONDS, `make fuzz-ci` (make test) FUZZ_CI_SECONDS.
FUZZ_OUT     := build/fuzz
FUZZ_CFLAGS  := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
                -fno-omit-frame-pointer -Wall -Wextra -Wno-unused-parameter \
                -Wno-format-truncation -Wno-unknown-warning-option -Werror -std=gnu11 \
                -D_GNU_SOURCE -Iinclude -Iuser/lib -Ishim -I$(dir $(SKEL))
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS    := $(addprefix $(FUZZ_OUT)/,$(FUZZ_TARGETS))
FUZZ_LIB     := $(FUZZ_OUT)/libtardis.a
FUZZ_SECONDS ?= 300
FUZZ_CI_SECONDS ?= 8

$(FUZZ_OUT)/lib $(FUZZ_OUT)/shim:
	mkdir -p $@

$(FUZZ_OUT)/lib/%.o: user/lib/%.c $(LIB_HDRS) $(SKEL) | $(FUZZ_OUT)/lib
	$(CLANG) $(FUZZ_CFLAGS) -c $< -o $@

ifeq ($(ARCH),x86)
$(FUZZ_OUT)/lib/checksum_avx2.o: FUZZ_CFLAGS += -mavx2
endif

$(FUZZ_OUT)/shim/%.o: shim/%.c $(wildcard shim/*.h) $(LIB_HDRS) | $(FUZZ_OUT)/shim
	$(CLANG) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_LIB): $(patsubst user/lib/%.c,$(FUZZ_OUT)/lib/%.o,$(LIB_SRCS)) $(FUZZ_OUT)/shim/runc_args.o
	rm -f $@ && ar rcs $@ $^

$(FUZZ_OUT)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_LIB)
	$(CLANG) $(FUZZ_CFLAGS) $< $(FUZZ_LIB) $(LDLIBS) -o $@

fuzz-build: $(FUZZ_BINS)

fuzz: $(FUZZ_BINS)
	tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-ci: $(FUZZ_BINS)
	tests/fuzz/run.sh $(FUZZ_CI_SECONDS) $(FUZZ_TARGETS)

.PHONY: fuzz fuzz-ci fuzz-build
