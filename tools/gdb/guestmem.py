"""svmlab's GDB commands for a guest's memory (.gdbinit sources this after svm.py).

    gphys [-v EXPR] GPA [N]   N bytes (default 16) of guest-physical memory
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
