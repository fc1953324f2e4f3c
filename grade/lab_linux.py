"""Lab 6 (linux): the Linux/x86 boot protocol loader in the VMM
(user/vmm/bzimage.c), and Debian's stock kernel booting in svmlab's VMM.

The kernel and busybox come from Debian's packages (tools/linux/fetch.sh,
cached in BUILD/linux); without them the lab says so in one line and
declares no tests. The graders' own files go into BUILD/linux/grade.tar, the
usual initrd plus: bzImage, initramfs (busybox and the graders' init script),
command-line files, and broken bzImages made from the real one
(grade/linux_guest.py).
"""
import os
import random
import re
import time

from gradelib import test
from linux_guest import (BOOT_TIMEOUT, LX, SKIP, boots_clean, clean_run, linux,  # noqa: F401
                         linux_test, release, sleeps_two_seconds,
                         guest_tsc_agrees)

# ---- the loader refuses what it cannot boot --------------------------------

# (vmm arguments, the field its message must name first)
BAD_IMAGES = [
    ("-k bz_empty", "truncated"),
    ("-k bz_short", "truncated"),
    ("-k hello.guest", "truncated"),
    ("-k vmm", "boot_flag/header"),
    ("-k bz_nohdrs", "boot_flag/header"),
    ("-k bz_noaa55", "boot_flag/header"),
    ("-k bz_oldproto", "version"),
    ("-k bz_zimage", "loadflags"),
    ("-k bz_no64", "xloadflags"),
    ("-k bz_setup", "setup_sects"),
    ("-k bz_sects0", "setup_sects"),
    ("-k bz_syssize", "syssize"),
    ("-k bz_syssize0", "syssize"),
    ("-k bz_cut", "syssize"),
    ("-k bz_align", "kernel_alignment"),
    ("-k bz_fixed", "relocatable_kernel"),
    ("-k bz_hugeinit", "init_size"),
    ("-k bz_tinyinit", "init_size"),
    ("-M 64 -k bz_small", "init_size"),
    ("-M 68 -k bz_small -r initramfs", "initrd"),
    ("-k bz_lowinitrd -r initramfs", "initrd"),
    ("-k bz_small -a cmd_long", "cmdline_size"),
]


@linux_test(10, "loader refuses %d broken bzImages, naming the field; the VMM runs on" % len(BAD_IMAGES),
            "test=sh", "bad_images", timeout=120)
def bad_images(r):
    clean_run(r)
    r.reject(r"^vmm: guest bz_")
    r.expect(r"\$ ", partial=True)
    for args, field in BAD_IMAGES:
        # -t: an image the loader wrongly accepts runs at most 3 s, and its
        # "vmm: guest ..." line fails the test at once instead of at the timeout.
        r.sendline("vmm -t 3000 %s" % args)
        name = args.split("-k ")[1].split()[0]
        # Any answer ends the wait: a refusal naming another field fails at once too.
        m = r.wait_for(r"^vmm: (?:(?:%s|initramfs): .*|guest .*)$" % name)
        r.check(not m.group(0).startswith("vmm: guest"), "the loader accepted %s (vmm %s): "
                "expected a refusal naming %s" % (name, args, field))
        r.check(re.match(r"^vmm: (%s|initramfs): %s: " % (name, field), m.group(0)),
                "vmm %s: the refusal must name %s first, not: %s" % (args, field, m.group(0)))
        r.wait_for(r"^sh: vmm: exit status 1$")
    r.sendline("vmm -M 8 -k bzImage")
    r.wait_for(r"^vmm: -M 8: guest RAM must be")
    r.sendline("vmm -k nosuchfile")
    r.wait_for(r"^vmm: nosuchfile: ")
    r.sendline("vmm hello")
    r.wait_for(r"^vmm: guest hello exited with code 0 after 81 exits")
    r.sendline("exit")


# ---- random setup headers against the boot protocol ------------------------

# A new seed each grading run (SVMLAB_SEED=N replays one). user/bzcheck.c
# makes random headers and runs them through the loader's checks; the rules
# below, from the boot protocol (Linux's Documentation/arch/x86/boot.rst) and
# the loader's stated limits, are computed here on their own.
SEED = int(os.environ.get("SVMLAB_SEED") or random.SystemRandom().randrange(1, 1 << 31))
BZ_CASES = 1500
MiB = 1 << 20


def header_faults(c):
    """The fields that make header c unbootable, and the kernel's RAM region
    [base, end) when there are none."""
    bad = set()
    if c["n"] < 0x268:
        return {"truncated"}, None   # the 2.12 header is not all there
    if c["flag"] != 0xAA55 or c["magic"] != 0x53726448:
        bad |= {"boot_flag", "header"}
    if c["ver"] < 0x020C:   # 2.12 brings xloadflags and the 64-bit entry
        bad.add("version")
    if not c["lf"] & 1:     # LOADED_HIGH: a bzImage
        bad.add("loadflags")
    if not c["xlf"] & 1:    # XLF_KERNEL_64
        bad.add("xloadflags")
    setup = ((c["sects"] or 4) + 1) * 512   # 0 setup sectors means 4
    if setup >= c["n"]:
        return bad | {"setup_sects"}, None
    kernel = c["n"] - setup
    if c["sys"] == 0 or c["sys"] * 16 > kernel:   # syssize counts 16-byte paragraphs
        bad.add("syssize")
    a = c["align"]
    if a & (a - 1) or not 4096 <= a <= 1 << 30:
        bad.add("kernel_alignment")
    if not c["reloc"] and c["pref"] != 0x100000:   # only 0x100000 is offered
        bad.add("relocatable_kernel")
    base = max(c["pref"], 0x100000)   # the kernel decompresses from here up init_size bytes
    end = base + c["init"]
    if c["init"] < kernel or base >= c["mem"] or end > c["mem"]:
        bad.add("init_size")
    return bad, (base, end)


def judge_bz(line):
    """None if the loader's answer on this bzcheck line obeys the rules, else why."""
    m = re.match(r"^bz (\d+) (.*?) -> (.*)$", line)
    c = {k: int(v, 16) for k, v in re.findall(r"(\w+)=([0-9a-f]+)", m.group(2))}
    ans = m.group(3)
    bad, region = header_faults(c)
    if ans.startswith("refuse "):
        named = set(ans[7:].split(":")[0].split("/"))
        if not bad:
            return "a bootable header refused: " + ans[7:]
        if not named & bad:
            return "refused naming %s, but the bad fields are %s" % (ans[7:].split(":")[0], sorted(bad))
        return None
    if bad:
        return "accepted, but %s %s wrong" % (sorted(bad), "is" if len(bad) == 1 else "are")
    ok = re.match(r"^ok end=([0-9a-f]+) cmdline=([0-9a-f]+) (?:initrd=([0-9a-f]+)|noinitrd (.*))$", ans)
    if not ok:
        return "unreadable answer " + ans
    if int(ok.group(2), 16) != c["cl"]:   # cmdline_size: 4 bytes at 0x238 (protocol 2.06+)
        return "cmdline_size recorded as 0x%s, the header says 0x%x" % (ok.group(2), c["cl"])
    base, end = region
    kend = int(ok.group(1), 16)
    if kend < end or kend > c["mem"]:
        return "kernel_end 0x%x, but the kernel needs [0x%x, 0x%x) of 0x%x bytes of RAM" % (kend, base, end, c["mem"])
    size = c["isize"]
    if size == 0:
        return None
    # The initrd: page-aligned, above the kernel's whole init_size region, in
    # RAM, its last byte at or below initrd_addr_max.
    top = min(c["mem"], c["imax"] + 1)
    pages = (size + 4095) & ~4095
    must = top >= pages and ((top - pages) & ~4095) >= end
    may = top >= size and ((top - size) & ~4095) >= end
    if ok.group(3) is None:
        return "an initrd of 0x%x bytes refused (%s), but it fits below 0x%x" % (size, ok.group(4), top) if must else None
    at = int(ok.group(3), 16)
    if not may:
        return "initrd of 0x%x bytes placed at 0x%x, but no place fits" % (size, at)
    if at % 4096 or at < end or at + size > top:
        return ("initrd of 0x%x bytes at 0x%x: must be page-aligned, at or above 0x%x (the kernel's init_size "
                "region) and end by 0x%x (RAM, initrd_addr_max)" % (size, at, end, top))
    return None


def entry_faults(line):
    """What the bzentry line's registers break of the 64-bit boot protocol
    (boot.rst "64-bit Boot Protocol"): long mode with paging, CS = __BOOT_CS
    (0x10) a flat 64-bit code segment, DS/ES/SS = __BOOT_DS (0x18) flat
    read/write data, interrupts off, RSI = the zero page, RIP = the load
    address + 0x200. Segment attributes as the VMCB packs them (APM Vol. 2
    §15.5: type 3:0, S 4, DPL 6:5, P 7, L 9, D/B 10, G 11)."""
    v = dict(re.findall(r"(\w+)=(\S+)", line))
    num = lambda k: int(v[k], 16)
    bad = []
    if num("rip") != num("kernel") + 0x200:
        bad.append("RIP 0x%x is not the load address 0x%x + 0x200" % (num("rip"), num("kernel")))
    if num("rsi") != num("zp"):
        bad.append("RSI 0x%x is not the zero page 0x%x" % (num("rsi"), num("zp")))
    if num("rflags") & 0x200:
        bad.append("interrupts enabled (RFLAGS 0x%x)" % num("rflags"))
    if num("cr0") & 0x80000001 != 0x80000001 or not num("cr4") & 0x20 or num("efer") & 0x500 != 0x500:
        bad.append("not long mode with paging (CR0 0x%x CR4 0x%x EFER 0x%x)" % (num("cr0"), num("cr4"), num("efer")))
    for name in ("cs", "ds", "es", "ss"):
        sel, attr, limit, base = (int(x, 16) for x in v[name].split("/"))
        code = name == "cs"
        present = attr & 0x90 == 0x90                             # P and S
        kind = attr & 0xA == 0xA if code else attr & 0xA == 0x2   # execute/read code, read/write data
        width = attr & 0x600 == 0x200 if code else True           # L=1, D=0
        flat = code or (limit == 0xFFFFFFFF and base == 0)        # (64-bit code ignores them)
        if sel != (0x10 if code else 0x18) or not (present and kind and width and flat):
            bad.append("%s %s: want selector 0x%x, a present %s segment" % (
                name.upper(), v[name], 0x10 if code else 0x18,
                "64-bit execute/read code" if code else "flat read/write data"))
    return bad


@test(points=5, title="%d random setup headers (versions, flags, setup_sects, syssize, alignment, relocation, "
      "init_size, initrd_addr_max, cmdline_size): refusals name a bad field, placements obey the boot protocol; "
      "the 64-bit entry's registers as the protocol says" % BZ_CASES,
      cmdline="test=bzcheck %d seed=%d" % (BZ_CASES, SEED), timeout=120, name="bzimage_random")
def bzimage_random(r):
    clean_run(r)
    r.expect(r"^bzcheck: done %d$" % BZ_CASES)
    lines = [m.group(0) for m in r.findall(r"^bz \d+ .*$")]
    r.check(len(lines) == BZ_CASES, "%d of %d cases reported" % (len(lines), BZ_CASES))
    wrong = [(l, why) for l in lines for why in [judge_bz(l)] if why]
    accepted = sum(" -> ok " in l for l in lines)
    r.check(not wrong, "%d of %d headers judged wrong; first: %s\n    %s\n    replay with: SVMLAB_SEED=%d make "
            "grade LAB=linux GRADEFLAGS=\"-k bzimage_random -v\"" % (
                len(wrong), len(lines), wrong[0][1] if wrong else "", wrong[0][0] if wrong else "", SEED))
    r.check(accepted >= BZ_CASES // 10, "only %d of %d random headers accepted" % (accepted, BZ_CASES))
    e = r.expect(r"^bzentry .*$")
    bad = entry_faults(e.group(0))
    r.check(not bad, "bz_entry_regs breaks the 64-bit boot protocol: %s\n    %s" % ("; ".join(bad), e.group(0)))
    r.expect_exit(0)


# ---- Debian's kernel boots (needs lab 5's interrupts and devices) ----------

@linux_test(20, "Debian's kernel boots to /init: uname -r, CPUID policy in /proc/cpuinfo, clean dmesg, "
            "TSC calibrated; poweroff -f ends the guest", linux("poweroff", "halt"), "boot")
def boot(r):
    clean_run(r)
    boots_clean(r)
    r.wait_for(r"^linuxtest: powering off$")
    r.wait_for(r"^vmm: guest linux halted after \d+ exits")
    r.expect_exit(0)


@linux_test(5, "the 32-bit entry (vmm -3): protected mode, paging off, the kernel turns on PAE, EFER.LME "
            "and paging itself; boots clean and powers off", linux("poweroff", "halt", names=" -3"), "boot32")
def boot32(r):
    clean_run(r)
    boots_clean(r)
    r.wait_for(r"^linuxtest: powering off$")
    r.wait_for(r"^vmm: guest linux halted after \d+ exits")
    r.expect_exit(0)


def shell_command(r, line):
    """Types line at ash's next prompt. Before it reads a line, ash asks the
    terminal where the cursor is (ESC [6n) and takes what comes in as the
    answer until one arrives: keys typed meanwhile were lost or garbled
    ("$(6( * 7))", seen in a fresh-clone run). So answer first, as a terminal does."""
    r.wait_for(r"# \x1b?\[6n", partial=True)
    r.send("\x1b[1;3R")
    time.sleep(0.3)
    r.sendline(line)


@linux_test(10, "the busybox shell runs typed commands on the UART; reboot -f resets the guest",
            linux("shell", "reset"), "shell_reboot")
def shell_reboot(r):
    clean_run(r)
    r.wait_for(r"^linuxtest: init running$")
    shell_command(r, "echo hello $((6 * 7))")
    r.wait_for(r"^hello 42$")
    shell_command(r, "uname -r")
    r.wait_for(r"^%s$" % re.escape(release()))
    shell_command(r, "reboot -f")
    r.wait_for(r"^vmm: guest linux reset")
    r.expect_exit(0)


@linux_test(5, "the guest's TSC frequency is the host's (0.5 %) and sleep 2 takes 2 s of wall time "
            "(1.9 to 5 s: load delays output)", linux("sleep", "halt"), "sleep")
def sleep2(r):
    clean_run(r)
    guest_tsc_agrees(r)
    sleeps_two_seconds(r)
    r.expect_exit(0)


@linux_test(5, "a kernel panic (init exits, panic=-1) ends the guest with a reset", linux("panic", "reset"),
            "panic")
def panic(r):
    clean_run(r)
    r.wait_for(r"^linuxtest: init exits$")
    r.wait_for(r"Kernel panic - not syncing: Attempted to kill init")
    r.wait_for(r"^vmm: guest linux reset")
    r.expect_exit(0)


# Two guests, one per CPU. This found two bugs that only show with two
# vCPUs in guest mode at once under QEMU 7.2 (docs/svm-primer.md §11): the host
# died at the instruction after VMRUN while the kernel switched FPU state
# around every VMRUN (now lazy, kern/svm/fpu.c), and a guest took its own
# EVENTINJ interrupt twice, the second time with IF=0 (kern/svm/irq.c).
@linux_test(10, "two Linux guests at once, one on each CPU, both boot clean and power off",
            linux("poweroff", "halt", mem=192, names=" -c 0 a b"), "two_guests")
def two_guests(r):
    clean_run(r)
    for i, n in enumerate("ab"):
        boots_clean(r, "%s.%d| " % (n, i), r.expect)
    for i, n in enumerate("ab"):
        r.expect(r"^%s\.%d\| vmm: vcpu moved 0 times, ran on 1 cpus \(%d\)$" % (n, i, i))
        r.expect(r"^%s\.%d\| vmm: guest %s halted after" % (n, i, n))
    r.expect(r"^vmm: 2 guests, 2 ended as expected$")
    r.expect_exit(0)


@linux_test(5, "three boots in a row and a VMM killed mid-boot give back every page",
            "test=linuxclean 3 -e halt -M 128 -k bzImage -r initramfs -a cmd_poweroff", "cleanup",
            timeout=2 * BOOT_TIMEOUT)
def cleanup(r):
    clean_run(r)
    for i in (1, 2, 3):
        m = r.wait_for(r"^linuxclean: boot %d: vmm exited with status (-?\d+)$" % i)
        r.check(m.group(1) == "0", "boot %d: the VMM exited with status %s" % (i, m.group(1)))
    # Not anchored: the kill can cut the guest's console line short, and this
    # line then continues it ("[    1.88 linuxclean: killed ...").
    r.wait_for(r"linuxclean: killed vmm mid-boot \(kill 0, ")
    m = r.wait_for(r"^linuxclean: 3 boots and a kill: free pages (\d+) -> (\d+)$")
    r.check(m.group(1) == m.group(2), "free pages %s before, %s after" % (m.group(1), m.group(2)))
    r.expect_exit(0)


