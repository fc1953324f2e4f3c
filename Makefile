# svmlab: build the kernel, the user programs and guests, run them in QEMU, grade them.
#
#   make            build build/kernel.bin and build/initrd.tar
#   make qemu       boot with the console on this terminal (quit: Ctrl-A X)
#   make qemu-gdb   boot stopped, with a gdb stub on port $(GDBPORT)
#   make gdb        start gdb with the tree's .gdbinit (a plain `gdb` works too)
#   make grade      grade every lab (LAB=name for one)
#   make test       everything CI runs (LOAD=2: beside two busy loops)
#   make handout    write a student tree (LAB=N, DEST=dir)
#   make handin     pack the tree for handing in (LAB=N): handin-labN-<stem>.zip
#   make compile_commands.json   for clangd / VS Code / CLion (editor support)
#   make bench      boot and grading time figures
#   make fuzz       the big fuzz runs (SEED=1 GUESTS=10000 CALLS=100000)
#   make SAN=1 ...  the same in build-san/: UBSan, kcov coverage, page poisoning
#   make linux      Debian's Linux in svmlab's VMM (KERNEL=, INITRD=, CMDLINE=, GUESTMEM=)
#
# CPUS=N (default 2), QEMUEXTRA="...", APPEND="kernel command line", QEMUCPU=max.

-include local.mk

TOOLPREFIX ?= $(shell if x86_64-elf-gcc --version >/dev/null 2>&1; then echo x86_64-elf-; fi)
CC = $(TOOLPREFIX)gcc
LD = $(TOOLPREFIX)ld
OBJCOPY = $(TOOLPREFIX)objcopy
AR = $(TOOLPREFIX)ar
NM = $(TOOLPREFIX)nm
PYTHON ?= python3
QEMU ?= qemu-system-x86_64

# The compiler and binutils must exist before anything is built: installed
# here when make runs as root, else tools/need.sh names the apt-get line.
ifeq ($(TOOLPREFIX),)
ifneq ($(filter-out clean,$(or $(MAKECMDGOALS),all)),)
ifneq ($(shell sh tools/need.sh $(CC) $(LD) $(OBJCOPY) $(NM) make tar >&2 && echo ok),ok)
$(error the build tools above are missing)
endif
endif
endif

# SAN=1: a separate build (HACKING.md "Sanitizers and coverage").
ifeq ($(SAN),1)
B ?= build-san
endif
B ?= build
CPUS ?= 2
QEMUCPU ?= max
MEM ?= 512M
APPEND ?=
GDBPORT ?= $(shell expr `id -u` % 5000 + 25000)

WARN = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
COMMON_CFLAGS = -std=gnu11 -O2 -g -ffreestanding -fno-pic -fno-pie -fno-stack-protector \
  -fno-omit-frame-pointer -mno-red-zone -mgeneral-regs-only -fno-builtin -fno-common \
  -nostdinc -isystem $(shell $(CC) -print-file-name=include) $(WARN)
KCFLAGS = $(COMMON_CFLAGS) -mcmodel=kernel -Ikern
UCFLAGS = $(COMMON_CFLAGS) -Iuser/lib -Ilib
ASFLAGS_K = -Ikern -D__ASSEMBLER__
LDFLAGS = -nostdlib -z max-page-size=4096 -z noexecstack --no-warn-rwx-segments

# ---- SAN=1: sanitizers and coverage (issue 15) -------------------------------
# UBSan with our own runtimes (kern/ubsan.c, user/lib/ubsan.c); kcov-style
# trace-pc coverage (kern/kcov.c, user/lib/kcov.c) in the SVM code, the vmm
# system calls and the user VMM; SVMLAB_SAN turns page poisoning on by default.
UBSAN_FLAGS = -fsanitize=undefined -fsanitize=bounds-strict -fno-sanitize=returns-nonnull-attribute
KCOV_FLAGS = -fsanitize-coverage=trace-pc
UCOV_FLAGS = -fsanitize-coverage=trace-pc,trace-cmp
ifeq ($(SAN),1)
KCFLAGS_SAN = $(UBSAN_FLAGS) -DSVMLAB_SAN
# User space: the VMM, the library and the fuzzers (not the test programs
# that do undefined things on purpose, as nullderef.c).
USAN_OBJS = $(B)/u/user/lib/%.o $(B)/u/lib/%.o $(B)/u/user/vmfuzz.o $(B)/u/user/guestfuzz.o \
  $(B)/u/user/hostile.o $(B)/u/user/fuzz/%.o
$(USAN_OBJS): UCFLAGS_SAN = $(UBSAN_FLAGS) -DSVMLAB_SAN
$(B)/u/user/vmm/%.o: UCFLAGS_SAN = $(UBSAN_FLAGS) -DSVMLAB_SAN $(UCOV_FLAGS)
$(B)/k/kern/svm/%.o $(B)/k/kern/sysvm.o: KCFLAGS_SAN += $(KCOV_FLAGS)
# ktests are not what a fuzzer can reach: not counted
$(B)/k/kern/svm/%_test.o: KCFLAGS_SAN = $(UBSAN_FLAGS) -DSVMLAB_SAN
endif
# The runtimes never check themselves; the UBSan self-test is always checked.
$(B)/k/kern/ubsan.o $(B)/k/kern/kcov.o $(B)/k/lib/ubsan.o: KCFLAGS_SAN =
$(B)/u/user/lib/ubsan.o $(B)/u/user/lib/kcov.o $(B)/u/lib/ubsan.o: UCFLAGS_SAN =
$(B)/k/kern/ubsan_test.o: KCFLAGS_SAN = $(UBSAN_FLAGS)

# ---- kernel --------------------------------------------------------------
KSRCS := $(wildcard kern/*.c kern/svm/*.c) lib/fmt.c lib/string.c lib/ubsan.c
KASM := kern/boot.S $(filter-out kern/boot.S,$(wildcard kern/*.S kern/svm/*.S))
KOBJS := $(KASM:%.S=$(B)/%.o) $(KSRCS:%.c=$(B)/k/%.o)

$(B)/k/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(KCFLAGS) $(KCFLAGS_SAN) -MMD -MP -c $< -o $@

$(B)/%.o: %.S
	@mkdir -p $(@D)
	$(CC) $(KCFLAGS) $(ASFLAGS_K) -MMD -MP -c $< -o $@

# Linked twice: the second link carries the first link's text symbols for
# panic backtraces (tools/mksyms.sh, kern/ksym.c).
$(B)/ksyms0.S:
	@mkdir -p $(@D)
	printf '.section .rodata\n.balign 8\n.globl ksyms, nksyms\nnksyms: .quad 0\nksyms:\n' > $@
$(B)/kernel.tmp: $(KOBJS) $(B)/ksyms0.o kern/kernel.ld
	$(LD) $(LDFLAGS) -T kern/kernel.ld -o $@ $(KOBJS) $(B)/ksyms0.o
$(B)/ksyms.S: $(B)/kernel.tmp tools/mksyms.sh
	NM=$(NM) sh tools/mksyms.sh $< > $@
$(B)/kernel.elf: $(KOBJS) $(B)/ksyms.o kern/kernel.ld
	$(LD) $(LDFLAGS) -T kern/kernel.ld -o $@ $(KOBJS) $(B)/ksyms.o
	NM=$(NM) sh tools/mksyms.sh --same $(B)/kernel.tmp $@ || { rm -f $@; exit 1; }
$(B)/kernel.bin: $(B)/kernel.elf
	$(OBJCOPY) -O binary $< $@
$(B)/ksyms0.o $(B)/ksyms.o: %.o: %.S
	$(CC) -c $< -o $@

# ---- user space ----------------------------------------------------------
ULIBSRCS := $(wildcard user/lib/*.c user/lib/*.S) lib/fmt.c lib/string.c lib/ubsan.c
ULIBOBJS := $(patsubst %.c,$(B)/u/%.o,$(patsubst %.S,$(B)/u/%.o,$(ULIBSRCS)))
UPROGS := $(patsubst user/%.c,%,$(wildcard user/*.c))
VMMSRCS := $(wildcard user/vmm/*.c)
ifneq ($(VMMSRCS),)
UPROGS += vmm
endif

$(B)/u/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(UCFLAGS) $(UCFLAGS_SAN) -MMD -MP -c $< -o $@
$(B)/u/%.o: %.S
	@mkdir -p $(@D)
	$(CC) $(UCFLAGS) -D__ASSEMBLER__ -MMD -MP -c $< -o $@
$(B)/initrd/%: $(B)/u/user/%.o $(ULIBOBJS) user/user.ld
	@mkdir -p $(@D)
	$(LD) $(LDFLAGS) -T user/user.ld -o $@ $< $(ULIBOBJS)
# guestfuzz runs the VMM's own code (all of it but main.c) in modes d and l.
FUZZVMMOBJS = $(patsubst %.c,$(B)/u/%.o,$(filter-out user/vmm/main.c,$(VMMSRCS))) $(B)/u/user/fuzz/vmmfuzz.o
$(B)/initrd/guestfuzz: $(B)/u/user/guestfuzz.o $(B)/u/user/fuzz/sysprog.o $(B)/u/user/fuzz/nestl1.o $(FUZZVMMOBJS) $(ULIBOBJS) user/user.ld
	@mkdir -p $(@D)
	$(LD) $(LDFLAGS) -T user/user.ld -o $@ $(B)/u/user/guestfuzz.o $(B)/u/user/fuzz/sysprog.o $(B)/u/user/fuzz/nestl1.o $(FUZZVMMOBJS) \
	  $(ULIBOBJS)

# mmiodiff runs instructions on RAM and through the VMM's MMIO path (user/mmiodiff.c).
# The instance generator (user/fuzz/x86gen.c) encodes what a lab 7 student's
# decoder must know: handouts up to lab 7 carry it compiled, as the archives
# user/fuzz/libx86gen-{svmlab,host}.a (make x86gen-prebuilt; tools/handout.py).
X86GEN_U := $(if $(wildcard user/fuzz/x86gen.c),$(B)/u/user/fuzz/x86gen.o,user/fuzz/libx86gen-svmlab.a)
X86GEN_HOST := $(if $(wildcard user/fuzz/x86gen.c),user/fuzz/x86gen.c,user/fuzz/libx86gen-host.a)
$(B)/initrd/mmiodiff: $(B)/u/user/mmiodiff.o $(X86GEN_U) $(FUZZVMMOBJS) $(ULIBOBJS) user/user.ld
	@mkdir -p $(@D)
	$(LD) $(LDFLAGS) -T user/user.ld -o $@ $(B)/u/user/mmiodiff.o $(X86GEN_U) $(FUZZVMMOBJS) $(ULIBOBJS)

# mbcheck tests the VMM's firmware side on its own: multiboot loader, ACPI tables, fw_cfg.
MBOBJS := $(addprefix $(B)/u/user/,mbcheck.o vmm/multiboot.o vmm/acpi.o vmm/aml.o vmm/acpipm.o vmm/fwcfg.o)
$(B)/initrd/mbcheck: $(MBOBJS) $(ULIBOBJS) user/user.ld
	@mkdir -p $(@D)
	$(LD) $(LDFLAGS) -T user/user.ld -o $@ $(MBOBJS) $(ULIBOBJS)
# bzcheck runs random setup headers through the lab 6 loader's checks (user/bzcheck.c).
$(B)/initrd/bzcheck: $(B)/u/user/bzcheck.o $(B)/u/user/vmm/bzimage.o $(ULIBOBJS) user/user.ld
	@mkdir -p $(@D)
	$(LD) $(LDFLAGS) -T user/user.ld -o $@ $(B)/u/user/bzcheck.o $(B)/u/user/vmm/bzimage.o $(ULIBOBJS)
# gvacheck runs random guest page tables through the VMM's walker (user/gvacheck.c).
$(B)/initrd/gvacheck: $(B)/u/user/gvacheck.o $(B)/u/user/vmm/gva.o $(ULIBOBJS) user/user.ld
	@mkdir -p $(@D)
	$(LD) $(LDFLAGS) -T user/user.ld -o $@ $(B)/u/user/gvacheck.o $(B)/u/user/vmm/gva.o $(ULIBOBJS)
# apictest drives the VMM's LAPIC and IOAPIC models on their own.
APICOBJS := $(B)/u/user/apictest.o $(B)/u/user/vmm/lapic.o $(B)/u/user/vmm/ioapic.o
$(B)/initrd/apictest: $(APICOBJS) $(ULIBOBJS) user/user.ld
	@mkdir -p $(@D)
	$(LD) $(LDFLAGS) -T user/user.ld -o $@ $(APICOBJS) $(ULIBOBJS)
$(B)/initrd/vmm: $(VMMSRCS:%.c=$(B)/u/%.o) $(ULIBOBJS) user/user.ld
	@mkdir -p $(@D)
	$(LD) $(LDFLAGS) -T user/user.ld -o $@ $(VMMSRCS:%.c=$(B)/u/%.o) $(ULIBOBJS)
# devtest drives the VMM's chips without a guest (user/devtest.c)
DEVOBJS := $(patsubst %,$(B)/u/user/vmm/%.o,pic pit uart rtc ports)
$(B)/initrd/devtest: $(B)/u/user/devtest.o $(DEVOBJS) $(ULIBOBJS) user/user.ld
	@mkdir -p $(@D)
	$(LD) $(LDFLAGS) -T user/user.ld -o $@ $< $(DEVOBJS) $(ULIBOBJS)

# ---- guests: user/guests/NAME.S -> initrd file NAME.guest ----------------
GUEST_IMAGES := $(patsubst user/guests/%.S,%,$(wildcard user/guests/*.S))
$(B)/g/%.o: user/guests/%.S user/guests/guest.h $(wildcard user/guests/*.inc)
	@mkdir -p $(@D)
	$(CC) -c -Iuser/guests -D__ASSEMBLER__ $< -o $@
$(B)/initrd/%.guest: $(B)/g/%.o user/guests/guest.ld
	@mkdir -p $(@D)
	$(LD) --no-warn-rwx-segments -T user/guests/guest.ld -o $(B)/g/$*.elf $<
	$(OBJCOPY) -O binary $(B)/g/$*.elf $@

# ---- architectural test kernels: tests/arch/NAME.c -> initrd file arch-NAME.bin
# Multiboot flat images run both on plain QEMU and in svmlab's VMM (tools/archtest.py, docs/archtest.md).
ARCH_KERNELS := $(patsubst tests/arch/%.c,%,$(filter-out tests/arch/rt.c,$(wildcard tests/arch/*.c)))
ARCH_CFLAGS = $(COMMON_CFLAGS) -Itests/arch
$(B)/arch/%.o: tests/arch/%.c tests/arch/rt.h tests/arch/ap1.h tests/arch/ioapic.h
	@mkdir -p $(@D)
	$(CC) $(ARCH_CFLAGS) -c $< -o $@
$(B)/arch/entry.o: tests/arch/entry.S tests/arch/rt.h
	@mkdir -p $(@D)
	$(CC) $(ARCH_CFLAGS) -D__ASSEMBLER__ -c $< -o $@
$(B)/initrd/arch-%.bin: $(B)/arch/%.o $(B)/arch/rt.o $(B)/arch/entry.o tests/arch/arch.ld
	@mkdir -p $(@D)
	$(LD) $(LDFLAGS) -T tests/arch/arch.ld -o $(B)/arch/$*.elf $(B)/arch/entry.o $(B)/arch/rt.o $<
	$(OBJCOPY) -O binary $(B)/arch/$*.elf $@
INITRD_FILES := $(UPROGS:%=$(B)/initrd/%) $(GUEST_IMAGES:%=$(B)/initrd/%.guest) $(B)/initrd/README
INITRD_FILES += $(ARCH_KERNELS:%=$(B)/initrd/arch-%.bin)
# Test kernels for what plain QEMU lacks (tests/pv: KVM's paravirtual interface, vmm -p on),
# on the same runtime; self-checking, not compared: tests/pv/NAME.c -> initrd file pv-NAME.bin.
PV_KERNELS := $(patsubst tests/pv/%.c,%,$(wildcard tests/pv/*.c))
$(B)/pv/%.o: tests/pv/%.c tests/arch/rt.h
	@mkdir -p $(@D)
	$(CC) $(ARCH_CFLAGS) -c $< -o $@
$(B)/initrd/pv-%.bin: $(B)/pv/%.o $(B)/arch/rt.o $(B)/arch/entry.o tests/arch/arch.ld
	@mkdir -p $(@D)
	$(LD) $(LDFLAGS) -T tests/arch/arch.ld -o $(B)/pv/$*.elf $(B)/arch/entry.o $(B)/arch/rt.o $<
	$(OBJCOPY) -O binary $(B)/pv/$*.elf $@
INITRD_FILES += $(PV_KERNELS:%=$(B)/initrd/pv-%.bin)
# Benchmark kernels on the same runtime (tests/bench, e.g. tools/ipibench.sh): they print
# figures, nothing compares them: tests/bench/NAME.c -> initrd file bench-NAME.bin.
BENCH_KERNELS := $(patsubst tests/bench/%.c,%,$(wildcard tests/bench/*.c))
$(B)/bench/%.o: tests/bench/%.c tests/arch/rt.h tests/arch/ap1.h
	@mkdir -p $(@D)
	$(CC) $(ARCH_CFLAGS) -c $< -o $@
$(B)/initrd/bench-%.bin: $(B)/bench/%.o $(B)/arch/rt.o $(B)/arch/entry.o tests/arch/arch.ld
	@mkdir -p $(@D)
	$(LD) $(LDFLAGS) -T tests/arch/arch.ld -o $(B)/bench/$*.elf $(B)/arch/entry.o $(B)/arch/rt.o $<
	$(OBJCOPY) -O binary $(B)/bench/$*.elf $@
INITRD_FILES += $(BENCH_KERNELS:%=$(B)/initrd/bench-%.bin)
$(B)/initrd/README: user/README.initrd
	@mkdir -p $(@D)
	cp $< $@
# svmlab as a guest of itself (issue 13): `vmm -k kernel.bin -r svmlab.tar`
# boots this kernel, with a tar of the user programs as its initrd.
# user/cmdlines/NAME: command lines for -a, initrd files NAME.cmdline.
CMDLINES := $(patsubst user/cmdlines/%,$(B)/initrd/%.cmdline,$(wildcard user/cmdlines/*))
INITRD_FILES += $(B)/initrd/kernel.bin $(B)/initrd/svmlab.tar $(CMDLINES)
$(B)/initrd/%.cmdline: user/cmdlines/%
	@mkdir -p $(@D)
	cp $< $@
$(B)/initrd/kernel.bin: $(B)/kernel.bin
	@mkdir -p $(@D)
	cp $< $@
$(B)/initrd/svmlab.tar: $(UPROGS:%=$(B)/initrd/%) $(B)/initrd/README
	tar --format=ustar --owner=0 --group=0 --mtime=@0 -cf $@ -C $(B)/initrd $(UPROGS) README
# Lab 9: svmlab in svmlab with guests of its own (`vmm -N -k kernel.bin -r svmlab-nested.tar`).
NESTED_GUESTS := prot32 long64 timer hostile_lcg spin svmnest lmenter smpstorm
INITRD_FILES += $(B)/initrd/svmlab-nested.tar
$(B)/initrd/svmlab-nested.tar: $(UPROGS:%=$(B)/initrd/%) $(NESTED_GUESTS:%=$(B)/initrd/%.guest) $(B)/initrd/README
	tar --format=ustar --owner=0 --group=0 --mtime=@0 -cf $@ -C $(B)/initrd $(UPROGS) $(NESTED_GUESTS:%=%.guest) README
$(B)/initrd.tar: $(INITRD_FILES)
	tar --format=ustar --owner=0 --group=0 --mtime=@0 -cf $@ -C $(B)/initrd $(notdir $(INITRD_FILES))

all: $(B)/kernel.bin $(B)/initrd.tar
.DEFAULT_GOAL := all

-include $(shell find $(B) -name '*.d' 2>/dev/null)

# ---- running -------------------------------------------------------------
QEMUOPTS = -accel tcg -cpu $(QEMUCPU) -smp $(CPUS) -m $(MEM) -no-reboot \
  -kernel $(B)/kernel.bin -initrd $(B)/initrd.tar -append "$(APPEND)" \
  -device isa-debug-exit,iobase=0xf4,iosize=0x04 $(QEMUEXTRA)

tools-check:
	@sh tools/need.sh qemu-system-x86_64 python3

# grade/lab_gdb.py drives gdb: grading and testing need it too.
tools-check-gdb: tools-check
	@sh tools/need.sh gdb

qemu: all tools-check
	$(QEMU) $(QEMUOPTS) -nographic

# QEMU starts stopped (-S); the stub listens on this machine only.
qemu-gdb: all tools-check
	@echo "*** QEMU waits for gdb on 127.0.0.1:$(GDBPORT) (GDBPORT=$(GDBPORT))."
	@echo "*** In another terminal: make gdb$(if $(filter command line environment,$(origin GDBPORT)), GDBPORT=$(GDBPORT))"
	$(QEMU) $(QEMUOPTS) -nographic -S -gdb tcp:127.0.0.1:$(GDBPORT)

# The committed .gdbinit finds the port and the kernel in GDBPORT and B.
# -iex: gdb must not also auto-load ./.gdbinit (it would connect twice).
# GDBARGS: more gdb arguments (the graders add -batch and commands).
gdb:
	@sh tools/need.sh gdb
	GDBPORT=$(GDBPORT) B=$(B) gdb -q -iex "set auto-load local-gdbinit off" -x .gdbinit $(GDBARGS)

FORCE:

GRADEFLAGS ?=
grade: all tools-check-gdb
	$(PYTHON) grade/grade.py --build-dir $(B) --qemu $(QEMU) --cpu $(QEMUCPU) $(if $(LAB),--lab $(LAB)) $(GRADEFLAGS)

test: all tools-check-gdb
	B=$(B) LOAD=$(LOAD) sh tools/test.sh

# The file to hand in for lab LAB (default: the handout's lab): the tree
# without build outputs, as handin-labN-<stem>.zip; refused if it does not build.
handin:
	$(PYTHON) tools/handin.py --make "$(MAKE)" -B $(B) $(if $(LAB),--lab $(LAB))

# For clangd, VS Code, CLion: every compiler command of a full build with its
# real flags (tools/compile_commands.py reads them from `make -n`).
compile_commands.json: FORCE
	$(PYTHON) tools/compile_commands.py -B $(B) -o $@

# LAB=N (number or stem, default 1): regions of labs >= N become their stubs.
handout:
	$(PYTHON) tools/handout.py --lab $(or $(LAB),1) --dest $(or $(DEST),handout)

# Each tests/arch kernel on plain QEMU and in svmlab's VMM, outputs compared line by line
# (tools/archtest.py; ARCHFLAGS="-k NAME --open-fails ...").
archtest: all tools-check
	$(PYTHON) tools/archtest.py --build-dir $(B) --qemu $(QEMU) $(ARCHFLAGS)

bench: all tools-check
	B=$(B) sh tools/bench.sh

# The big fuzz runs outside CI: make fuzz SEED=1 GUESTS=10000 CALLS=100000 (tools/fuzz.sh);
# with SAN=1 the guided runs have coverage (the issue's figures: CALLS=1000000 GUESTS=100000)
fuzz: all tools-check $(B)/emutest
	$(B)/emutest 1000000 $(or $(SEED),1)
	B=$(B) CPUS=$(CPUS) QEMU=$(QEMU) QEMUCPU=$(QEMUCPU) $(if $(SEED),SEED=$(SEED)) \
	  $(if $(GUESTS),GUESTS=$(GUESTS)) $(if $(CALLS),CALLS=$(CALLS)) $(if $(PROBE),PROBE=$(PROBE)) \
	  $(if $(GUIDED),GUIDED=$(GUIDED)) sh tools/fuzz.sh

# The VMM's instruction emulator (user/vmm/decode.c, emulate.c, alu.c) checked
# against this machine's CPU: make emutest [EMUCOUNT=100000] [SEED=1].
HOSTCC ?= gcc
EMUSRCS := user/vmm/decode.c user/vmm/emulate.c user/vmm/alu.c
EMUCOUNT ?= 100000
$(B)/emutest: tools/emutest/emutest.c tools/emutest/native.S $(X86GEN_HOST) user/fuzz/x86gen.h $(EMUSRCS) user/vmm/x86emu.h
	@mkdir -p $(@D)
	$(HOSTCC) -O2 -g -mno-red-zone $(WARN) -Iuser/vmm -o $@ tools/emutest/emutest.c tools/emutest/native.S $(EMUSRCS) $(X86GEN_HOST)
emutest: $(B)/emutest
	$(B)/emutest $(EMUCOUNT) $(or $(SEED),1)

# The VMM's split virtqueue (user/vmm/virtqueue.c) on the host, random and hostile rings:
# make vqtest [VQROUNDS=2000] [SEED=1].
VQROUNDS ?= 2000
$(B)/vqtest: tools/vqtest/vqtest.c user/vmm/virtqueue.c user/vmm/virtqueue.h
	@mkdir -p $(@D)
	$(HOSTCC) -O2 -g $(WARN) -Iuser/vmm -o $@ tools/vqtest/vqtest.c user/vmm/virtqueue.c
vqtest: $(B)/vqtest
	$(B)/vqtest $(VQROUNDS) $(or $(SEED),1)

# The generator compiled for a handout: no debug information, no local
# symbols (its tables and rules are what the student works out).
$(B)/prebuilt/libx86gen-svmlab.a: $(B)/u/user/fuzz/x86gen.o
	@mkdir -p $(@D)
	$(OBJCOPY) --strip-debug --discard-all $< $(@D)/x86gen-svmlab.o
	rm -f $@ && $(AR) rcs $@ $(@D)/x86gen-svmlab.o
$(B)/prebuilt/libx86gen-host.a: user/fuzz/x86gen.c user/fuzz/x86gen.h user/vmm/x86emu.h
	@mkdir -p $(@D)
	$(HOSTCC) -O2 -mno-red-zone $(WARN) -Iuser/vmm -c -o $(@D)/x86gen-host.o $<
	objcopy --strip-debug --discard-all $(@D)/x86gen-host.o
	rm -f $@ && ar rcs $@ $(@D)/x86gen-host.o
x86gen-prebuilt: $(B)/prebuilt/libx86gen-svmlab.a $(B)/prebuilt/libx86gen-host.a

# ---- Linux as a guest (lab 6, tools/linux/) -------------------------------
# Debian's kernel and busybox are fetched once into $(B)/linux (apt-get
# download, nothing installed); KERNEL=, INITRD= and CMDLINE= take others.
# The svmlab initrd then also holds bzImage, initramfs and cmdline, and
# init runs `vmm -k bzImage -r initramfs -a cmdline` on the console.
LX = $(B)/linux
LINUXMEM ?= 1G
GUESTMEM ?= 256
# APIC=1: the guest also gets a local APIC, an I/O APIC and ACPI tables (vmm -A, lab 7).
# With it Linux gets KVM's paravirtual interface too (kvmclock, PV EOI, x2APIC, TSC-deadline;
# vmm -p on, which PV=1 asks for alone); NOPV=1 turns that off (vmm -p off).
# VCPUS=N (with APIC=1): N vcpus, one VMM thread each (vmm -V, lab 8).
CMDLINE ?= console=ttyS0 earlyprintk=serial,ttyS0,115200 $(if $(APIC)$(PV),,noapic acpi=off )reboot=k panic=-1 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd
$(LX)/vmlinuz $(LX)/busybox:
	@sh tools/linux/fetch.sh $(LX)
$(LX)/initramfs.cpio: $(LX)/busybox tools/linux/mkinitramfs.py
	$(PYTHON) tools/linux/mkinitramfs.py --busybox $(LX)/busybox -o $@
$(LX)/initrd.tar: $(INITRD_FILES) $(if $(KERNEL),,$(LX)/vmlinuz) $(if $(INITRD),,$(LX)/initramfs.cpio) FORCE
	@rm -rf $(LX)/initrd && mkdir -p $(LX)/initrd
	cp $(INITRD_FILES) $(LX)/initrd/
	cp $(or $(KERNEL),$(LX)/vmlinuz) $(LX)/initrd/bzImage
	cp $(or $(INITRD),$(LX)/initramfs.cpio) $(LX)/initrd/initramfs
	printf '%s\n' "$(CMDLINE)" > $(LX)/initrd/cmdline
	tar --format=ustar --owner=0 --group=0 --mtime=@0 -cf $@ -C $(LX)/initrd .
linux-files: $(LX)/initrd.tar
linux: all tools-check $(LX)/initrd.tar
	@echo "*** Linux in svmlab's VMM: 'poweroff -f' in the guest ends it; Ctrl-A X quits QEMU"
	$(QEMU) -accel tcg -cpu $(QEMUCPU) -smp $(CPUS) -m $(LINUXMEM) -no-reboot -kernel $(B)/kernel.bin \
	  -initrd $(LX)/initrd.tar -append "test=vmm -M $(GUESTMEM)$(if $(APIC), -A)$(if $(PV), -p on)$(if $(NOPV), -p off)$(if $(VCPUS), -V $(VCPUS)) -k bzImage -r initramfs -a cmdline $(APPEND)" \
	  -device isa-debug-exit,iobase=0xf4,iosize=0x04 $(QEMUEXTRA) -nographic

clean:
	rm -rf $(B) build-handout

.PHONY: vqtest x86gen-prebuilt archtest linux linux-files all qemu qemu-gdb gdb grade test handout bench fuzz emutest clean tools-check tools-check-gdb FORCE handin
.PRECIOUS: $(B)/%.o $(B)/k/%.o $(B)/u/%.o $(B)/g/%.o $(B)/arch/%.o $(B)/pv/%.o $(B)/bench/%.o
