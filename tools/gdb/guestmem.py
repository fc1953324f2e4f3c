"""svmlab's GDB commands for a guest's memory (.gdbinit sources this after svm.py).

    gphys [-v EXPR] GPA [N]   N bytes (default 16) of guest-physical memory
    gapic [PID]               the guest's local APIC as the VMM models it
    gvirt [-v EXPR] GVA [N]   N bytes at a guest linear address
    gwalk [-v EXPR] GVA       the translation itself, level by level

gdb's own `x` reads memory without nested paging: stopped inside a guest (or
at a #VMEXIT) it shows host memory at the guest's addresses, which is wrong.
These commands translate as the CPU does: guest-physical through the nested
page table (the VMCB's nCR3, 4 levels, APM Vol. 2 §15.25.5 "Nested Table
Walk"), guest-linear first through the guest's own tables (its CR0, CR3, CR4
and EFER from the VMCB save area: no paging, 32-bit with PSE, PAE, or 4-level
long mode; APM Vol. 2 §5.3), each of whose entries is itself guest-physical.
The VMCB is the one `vmcb` would show (this CPU's current one, or RAX at a
#VMEXIT point); -v EXPR names another, as `vmcb EXPR` takes it.
"""
import gdb

_S = __import__("__main__")   # svm.py's helpers: read_phys, Vmcb, current_vmcb_va, ...

ADDR = 0x000FFFFFFFFFF000


class WalkError(Exception):
    pass


def _entry(read, table, index, size=8):
    return int.from_bytes(read(table + index * size, size), "little")


def npt_walk(ncr3, gpa, steps=None):
    """Host-physical address of gpa through the nested table at ncr3."""
    table = ncr3 & ADDR
    for level, name in ((3, "nPML4"), (2, "nPDPT"), (1, "nPD"), (0, "nPT")):
        shift = 12 + 9 * level
        e = _entry(_S.read_phys, table, (gpa >> shift) & 511)
        if steps is not None:
            steps.append("  %s[%d] = 0x%x" % (name, (gpa >> shift) & 511, e))
        if not e & 1:
            raise WalkError("guest-physical 0x%x is not mapped in the nested page table (%s entry %d "
                            "not present)" % (gpa, name, (gpa >> shift) & 511))
        if level in (1, 2) and e & 0x80:
            mask = (1 << shift) - 1
            return (e & ADDR & ~mask) | (gpa & mask)
        table = e & ADDR
    return table | (gpa & 0xFFF)


def read_gphys(ncr3, gpa, n):
    out = b""
    while n > 0:
        chunk = min(n, 0x1000 - (gpa & 0xFFF))
        out += _S.read_phys(npt_walk(ncr3, gpa), chunk)
        gpa, n = gpa + chunk, n - chunk
    return out


def guest_walk(v, gva, steps=None):
    """Guest-physical address of the linear address gva, by v's save area."""
    s, ncr3 = v.s, v.c["ncr3"]
    rd = lambda gpa, n: read_gphys(ncr3, gpa, n)
    note = steps.append if steps is not None else (lambda _: None)
    cr0, cr3, cr4, efer = s["cr0"], s["cr3"], s["cr4"], s["efer"]
    if not cr0 >> 31 & 1:
        note("  paging off: linear = guest-physical")
        return gva if efer >> 10 & 1 else gva & 0xFFFFFFFF
    if efer >> 10 & 1:
        levels, table, names = 4, cr3 & ADDR, ("PML4", "PDPT", "PD", "PT")
    elif cr4 >> 5 & 1:
        e = _entry(rd, cr3 & 0xFFFFFFE0, (gva >> 30) & 3)
        note("  PDPT[%d] = 0x%x" % ((gva >> 30) & 3, e))
        if not e & 1:
            raise WalkError("PAE: PDPT entry %d not present: the guest takes #PF" % ((gva >> 30) & 3))
        levels, table, names = 2, e & ADDR, ("PD", "PT")
    else:
        return _walk32(rd, cr3, cr4, gva, note)
    for i in range(levels):
        shift = 12 + 9 * (levels - 1 - i)
        idx = (gva >> shift) & 511
        e = _entry(rd, table, idx)
        note("  %s[%d] at gpa 0x%x = 0x%x" % (names[i], idx, table + 8 * idx, e))
        if not e & 1:
            raise WalkError("%s entry %d not present: the guest takes #PF" % (names[i], idx))
        if e & 0x80 and shift in (21, 30):   # a 2 MiB (PD) or 1 GiB (PDPT) page
            mask = (1 << shift) - 1
            note("  -> a %s page" % ("1 GiB" if shift == 30 else "2 MiB"))
            return (e & ADDR & ~mask) | (gva & mask)
        table = e & ADDR
    return table | (gva & 0xFFF)


def _walk32(rd, cr3, cr4, gva, note):
    gva &= 0xFFFFFFFF
    pde = _entry(rd, cr3 & 0xFFFFF000, gva >> 22, 4)
    note("  PD[%d] = 0x%x" % (gva >> 22, pde))
    if not pde & 1:
        raise WalkError("PD entry %d not present: the guest takes #PF" % (gva >> 22))
    if pde & 0x80 and cr4 >> 4 & 1:
        note("  -> a 4 MiB page")
        return (pde & 0xFFC00000) | (gva & 0x3FFFFF)
    pte = _entry(rd, pde & 0xFFFFF000, (gva >> 12) & 1023, 4)
    note("  PT[%d] = 0x%x" % ((gva >> 12) & 1023, pte))
    if not pte & 1:
        raise WalkError("PT entry %d not present: the guest takes #PF" % ((gva >> 12) & 1023))
    return (pte & 0xFFFFF000) | (gva & 0xFFF)


def _parse(arg, usage):
    """(Vmcb, [numbers]) from '[-v EXPR] A [N]'."""
    words = gdb.string_to_argv(arg)
    va = None
    if len(words) >= 2 and words[0] == "-v":
        va = _S.vmcb_from_expr(words[1])[0]
        words = words[2:]
    if not words:
        raise gdb.GdbError("usage: " + usage)
    if va is None:
        va = _S.current_vmcb_va()[0]
    nums = [int(gdb.parse_and_eval(w)) & (2**64 - 1) for w in words]
    return _S.Vmcb(va), nums


def _dump(label, addr, data):
    for i in range(0, len(data), 16):
        print("%s 0x%x: %s" % (label, addr + i, " ".join("%02x" % b for b in data[i:i + 16])))


class GphysCommand(gdb.Command):
    """Guest-physical memory, through the nested page table.

Usage: gphys [-v EXPR] GPA [N]       e.g. gphys 0x1000 4
N bytes (default 16) at guest-physical GPA of the VM whose VMCB `vmcb` shows
(or -v EXPR's), translated through that VMCB's nCR3 and read from host
physical memory. An address the nested table does not map is named with the
level whose entry is missing (the guest would take a nested page fault)."""

    def __init__(self):
        super().__init__("gphys", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def invoke(self, arg, from_tty):
        _S.need_target()
        v, nums = _parse(arg, "gphys [-v EXPR] GPA [N]")
        gpa, n = nums[0], nums[1] if len(nums) > 1 else 16
        try:
            _dump("gpa", gpa, read_gphys(v.c["ncr3"], gpa, n))
        except WalkError as e:
            raise gdb.GdbError(str(e))


class GvirtCommand(gdb.Command):
    """Guest memory at a guest linear address.

Usage: gvirt [-v EXPR] GVA [N]       e.g. gvirt $rip 8 (inside a guest)
N bytes (default 16) at linear GVA, translated through the guest's own page
tables as its CR0/CR3/CR4/EFER in the VMCB save area say (up to date at a
#VMEXIT), then through the nested page table. gwalk shows the walk."""

    def __init__(self):
        super().__init__("gvirt", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def invoke(self, arg, from_tty):
        _S.need_target()
        v, nums = _parse(arg, "gvirt [-v EXPR] GVA [N]")
        gva, n = nums[0], nums[1] if len(nums) > 1 else 16
        try:
            out = b""
            while len(out) < n:
                a = gva + len(out)
                chunk = min(n - len(out), 0x1000 - (a & 0xFFF))
                out += read_gphys(v.c["ncr3"], guest_walk(v, a), chunk)
            _dump("gva", gva, out)
        except WalkError as e:
            raise gdb.GdbError(str(e))


class GwalkCommand(gdb.Command):
    """Show how a guest linear address is translated.

Usage: gwalk [-v EXPR] GVA
Each level of the guest's own walk (entry index, the entry's guest-physical
address and value), the guest-physical result, then each level of the nested
walk of that address and the host-physical result."""

    def __init__(self):
        super().__init__("gwalk", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def invoke(self, arg, from_tty):
        _S.need_target()
        v, nums = _parse(arg, "gwalk [-v EXPR] GVA")
        steps = []
        try:
            gpa = guest_walk(v, nums[0], steps)
            print("guest walk of 0x%x (cr3 0x%x):" % (nums[0], v.s["cr3"]))
            print("\n".join(steps))
            print("guest-physical 0x%x" % gpa)
            nsteps = []
            hpa = npt_walk(v.c["ncr3"], gpa, nsteps)
            print("nested walk (nCR3 0x%x):" % v.c["ncr3"])
            print("\n".join(nsteps))
            print("host-physical 0x%x" % hpa)
        except WalkError as e:
            print("\n".join(steps))
            raise gdb.GdbError(str(e))


GphysCommand()
GvirtCommand()
GwalkCommand()
print("svmlab: guest memory commands loaded: gphys, gvirt, gwalk")


# ---------------------------------------------------------------------------
# The guest's local APIC, as the user-space VMM models it (user/vmm/lapic.h).
# The model lives in the VMM process: its static `apics` (apic.c) is found in
# the VMM's ELF (B/initrd/vmm, by nm) and read through that process's page
# table (ptable.proc[i].pml4), whatever the CPU is running.

LAPIC_FIELDS = [("base_msr", 0, 8), ("id", 8, 4), ("tpr", 16, 4), ("ldr", 20, 4), ("svr", 28, 4),
                ("esr", 32, 4), ("icr_lo", 40, 4), ("icr_hi", 44, 4), ("lvt", 48, 24), ("irr", 72, 32),
                ("isr", 104, 32), ("tmr", 136, 32), ("timer_icr", 168, 4), ("timer_dcr", 172, 4),
                ("timer_due", 184, 8), ("fired", 208, 8)]   # struct lapic; grade/lab_gdb.py checks it against the DWARF
LAPIC_SIZE = 232


def _vmm_symbol(name):
    import os
    import subprocess
    elf = os.path.join(os.getcwd(), os.environ.get("B") or "build", "initrd", "vmm")
    out = subprocess.run(["nm", elf], capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return int(parts[0], 16)
    raise gdb.GdbError("no symbol %s in %s (build the tree first)" % (name, elf))


def _proc_pml4(pid):
    """The kernel address of process pid's top page table."""
    t = gdb.lookup_type("struct proc")
    base, n = _S.addr_of("ptable.proc"), _S.array_len("ptable.proc")
    for i in range(n):
        p = _S.value_at(base + i * t.sizeof, "struct proc")
        if int(p["pid"]) == pid and int(p["state"]) != 0:
            return _S.ptr(p["pml4"])
    raise gdb.GdbError("no process with pid %d" % pid)


def read_user(pml4_va, va, n):
    """n bytes at user address va of the address space whose PML4 is at pml4_va."""
    out = b""
    while len(out) < n:
        a = va + len(out)
        table = _S.kva2pa(pml4_va)
        for level in (3, 2, 1, 0):
            e = _entry(_S.read_phys, table, (a >> (12 + 9 * level)) & 511)
            if not e & 1:
                raise gdb.GdbError("user address 0x%x is not mapped in that process" % a)
            table = e & ADDR
        chunk = min(n - len(out), 0x1000 - (a & 0xFFF))
        out += _S.read_phys(table | (a & 0xFFF), chunk)
    return out


def _vm_pids():
    t = gdb.lookup_type("struct vm")
    base, n = _S.addr_of("vms"), _S.array_len("vms")
    vms = [_S.value_at(base + h * t.sizeof, "struct vm") for h in range(n)]
    return [int(v["pid"]) for v in vms if int(v["used"])]


def _bits(words):
    """The set vectors of a 256-bit register."""
    return [32 * i + b for i, w in enumerate(words) for b in range(32) if w >> b & 1]


def lapic_state(raw):
    f = {}
    for name, off, size in LAPIC_FIELDS:
        b = raw[off:off + size]
        f[name] = [int.from_bytes(b[i:i + 4], "little") for i in range(0, size, 4)] if size > 8 else \
            int.from_bytes(b, "little")
    return f


def _lvt_text(v, timer=False):
    dm = ["Fixed", "?", "SMI", "?", "NMI", "INIT", "?", "ExtINT"][(v >> 8) & 7]
    mode = ""
    if timer:
        mode = ["one-shot", "periodic", "TSC-deadline", "?"][(v >> 17) & 3] + ", "
        dm = "Fixed"
    return "%s%s vector 0x%x, %s" % (mode, dm, v & 0xFF, "masked" if v >> 16 & 1 else "unmasked")


class GapicCommand(gdb.Command):
    """Show the guest's local APIC as the VMM models it.

Usage: gapic [PID]
The struct lapic of the VMM process PID (default: the owner of the first VM
in use): APIC ID, software enable and spurious vector (SVR), TPR, the
vectors requested (IRR), in service (ISR) and level-triggered (TMR), the
LVT entries (timer mode, vector, mask; LINT0/LINT1 delivery modes), the
timer's initial count, divider, next expiry (VMM clock ns) and expiries so
far. Only guests with APICs (vmm -k of a multiboot kernel) have one."""

    def __init__(self):
        super().__init__("gapic", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        _S.need_target()
        pids = [int(arg)] if arg.strip() else _vm_pids()
        if not pids:
            raise gdb.GdbError("no VM in use (vms[]): no VMM to read an APIC from")
        pml4 = _proc_pml4(pids[0])
        a = lapic_state(read_user(pml4, _vmm_symbol("apics"), LAPIC_SIZE))
        if not (a["svr"] or a["lvt"][0]):
            print("vmm pid %d: its guest has no local APIC (not a multiboot guest?)" % pids[0])
            return
        svr = a["svr"]
        print("lapic of vmm pid %d: APIC ID %d, %s (SVR 0x%x, spurious vector 0x%x), TPR 0x%x"
              % (pids[0], a["id"], "software-enabled" if svr >> 8 & 1 else "software-disabled",
                 svr, svr & 0xFF, a["tpr"]))
        for name in ("irr", "isr", "tmr"):
            v = _bits(a[name])
            print("  %s: %s" % (name.upper(), ", ".join("0x%x" % x for x in v) or "none"))
        div = (((a["timer_dcr"] & 8) >> 1) | (a["timer_dcr"] & 3))
        print("  timer: %s; initial count %d, divide by %d, next expiry %s, %d expiries"
              % (_lvt_text(a["lvt"][0], True), a["timer_icr"], 1 if div == 7 else 2 << div,
                 "at %d ns" % a["timer_due"] if a["timer_due"] else "none", a["fired"]))
        print("  LINT0: %s; LINT1: %s; error: %s" % (_lvt_text(a["lvt"][3]), _lvt_text(a["lvt"][4]),
                                                     _lvt_text(a["lvt"][5])))


GapicCommand()
print("svmlab: guest APIC command loaded: gapic")
