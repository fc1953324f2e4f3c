"""svmlab's GDB commands for AMD SVM (source this file from gdb; .gdbinit does).

    vmcb [-a] [-c|-s|-x] [EXPR]   a VMCB by field name, decoded
    hsave                         each CPU's EFER.SVME and host save area
    vmexits [on|log|off] [NAME..] stop at / log every #VMEXIT
    vcpus                         every VM's vcpus: last CPU, ASID, loaded state
    gbreak LINEAR                 stop when a guest executes LINEAR
    guest                         the CPU's state while stopped inside a guest

`help svm` lists them, `help vmcb` etc. explain each one. The VMCB layout is
the table below (APM Vol. 2 Appendix B, tables B-1 and B-2); the grader checks
it against the kernel's struct vmcb_control / vmcb_save (grade/lab_gdb.py).

Memory: kernel addresses are read through QEMU's physical-memory mode
(`maint packet Qqemu.PhyMemMode:1`) after translating them with the kernel's
fixed maps (KERNBASE, PHYSBASE), so the commands also work while the CPU is
stopped inside a guest, whose page tables do not map the kernel.
"""
import struct

import gdb

PHYSBASE = 0xFFFF800000000000   # kern/memlayout.h: all RAM at PHYSBASE + pa
KERNBASE = 0xFFFFFFFF80000000   # the kernel image at KERNBASE + pa

# ---------------------------------------------------------------------------
# Memory and kernel symbols

_phys_mode = None   # None: not probed yet; True/False: QEMU has PhyMemMode


def _maint_packet(text):
    out = gdb.execute("maint packet " + text, to_string=True)
    return 'received: "OK"' in out


def _has_phys_mode():
    global _phys_mode
    if _phys_mode is None:
        try:
            _phys_mode = _maint_packet("Qqemu.PhyMemMode:0")
        except gdb.error:
            _phys_mode = False
    return _phys_mode


def kva2pa(va):
    """The physical address of a kernel virtual address, or None."""
    if va >= KERNBASE:
        return va - KERNBASE
    if va >= PHYSBASE:
        return va - PHYSBASE
    return None


def read_phys(pa, n):
    """n bytes of physical memory (QEMU only)."""
    _maint_packet("Qqemu.PhyMemMode:1")
    try:
        return bytes(gdb.selected_inferior().read_memory(pa, n))
    finally:
        _maint_packet("Qqemu.PhyMemMode:0")


def read(addr, n):
    """n bytes at a kernel address: physically when the stub can (the CPU may
    be inside a guest), else through the current page tables."""
    pa = kva2pa(addr)
    if pa is not None and _has_phys_mode():
        return read_phys(pa, n)
    return bytes(gdb.selected_inferior().read_memory(addr, n))


def ULONG():
    return gdb.lookup_type("unsigned long")


def ptr(value):
    """A pointer gdb.Value as a Python int."""
    return int(value.cast(ULONG()))


def u64(addr):
    return struct.unpack("<Q", read(addr, 8))[0]


def value_at(addr, typename):
    """A gdb.Value of struct/type `typename` built from memory at addr."""
    t = gdb.lookup_type(typename)
    return gdb.Value(read(addr, t.sizeof), t)


def addr_of(name):
    """The link address of a kernel variable (no memory is read)."""
    return int(gdb.parse_and_eval("&" + name).cast(ULONG()))


def array_len(name):
    lo, hi = gdb.parse_and_eval(name).type.strip_typedefs().range()
    return hi - lo + 1


def reg(name):
    return int(gdb.parse_and_eval("$" + name)) & (2**64 - 1)


def field_offset(typename, path):
    """Byte offset of field path "a.b" in typename, from the DWARF."""
    t, off = gdb.lookup_type(typename).strip_typedefs(), 0
    for part in path.split("."):
        f = next(x for x in t.fields() if x.name == part)
        off += f.bitpos // 8
        t = f.type.strip_typedefs()
    return off


# ---------------------------------------------------------------------------
# CPUs


def ncpu():
    return int(value_at(addr_of("ncpu"), "int"))


def cpu_struct(i):
    return value_at(addr_of("cpus") + i * gdb.lookup_type("struct cpu").sizeof, "struct cpu")


def thread_cpu(thread=None):
    """The kernel's CPU index of a gdb thread: QEMU's thread N is the vCPU with
    cpu_index N-1, whose APIC id is N-1 (QEMU's default topology)."""
    thread = thread or gdb.selected_thread()
    idx = thread.ptid[1] - 1
    for i in range(ncpu()):
        if int(cpu_struct(i)["apicid"]) == idx:
            return i
    return idx


def need_target():
    """Raises a gdb error unless gdb is connected to a stopped target."""
    if gdb.selected_thread() is None:
        raise gdb.GdbError("no target: start `make qemu-gdb`, then `target remote` (or `make gdb`)")


def current_cpu():
    """This CPU's index: from GS base when it points at a struct cpu (in the
    kernel), else from the gdb thread (in user space, in a guest, or between
    VMLOAD of the guest and VMLOAD of the host, when GS is the guest's)."""
    base, size = addr_of("cpus"), gdb.lookup_type("struct cpu").sizeof
    for r in ("gs_base", "k_gs_base"):
        try:
            gs = reg(r)
        except gdb.error:
            continue
        if base <= gs < base + array_len("cpus") * size and (gs - base) % size == 0:
            return (gs - base) // size
    return thread_cpu()


def svm_data(i):
    sd = addr_of("svm_data") + i * gdb.lookup_type("struct svm_cpu_data").sizeof
    return value_at(sd, "struct svm_cpu_data")


# ---------------------------------------------------------------------------
# The VMCB layout (APM Vol. 2 Appendix B). (offset, size, name, decoder):
# names are kern/svm/svm.h's field names; offsets of the save area are from
# its start (VMCB offset 0x400). grade/lab_gdb.py checks this table against
# the kernel's DWARF.

CONTROL = [
    (0x000, 24, "intercepts", "intercepts"),
    (0x03C, 2, "pause_filter_thresh", None),
    (0x03E, 2, "pause_filter_count", None),
    (0x040, 8, "iopm_base_pa", None),
    (0x048, 8, "msrpm_base_pa", None),
    (0x050, 8, "tsc_offset", None),
    (0x058, 4, "asid", None),
    (0x05C, 1, "tlb_control", "tlb_control"),
    (0x060, 8, "int_ctl", "int_ctl"),
    (0x068, 8, "int_state", "int_state"),
    (0x070, 8, "exitcode", "exitcode"),
    (0x078, 8, "exitinfo1", None),
    (0x080, 8, "exitinfo2", None),
    (0x088, 8, "exitintinfo", "event"),
    (0x090, 8, "nested_ctl", "nested_ctl"),
    (0x098, 8, "avic_apic_bar", None),
    (0x0A0, 8, "ghcb_gpa", None),
    (0x0A8, 8, "eventinj", "event"),
    (0x0B0, 8, "ncr3", None),
    (0x0B8, 8, "virt_ext", "virt_ext"),
    (0x0C0, 4, "clean", "clean"),
    (0x0C8, 8, "next_rip", None),
    (0x0D0, 1, "insn_len", None),
    (0x0D1, 15, "insn_bytes", "bytes"),
    (0x0E0, 8, "avic_backing_page", None),
    (0x0F0, 8, "avic_logical_id", None),
    (0x0F8, 8, "avic_physical_id", None),
    (0x108, 8, "vmsa_pa", None),
]
SAVE_BASE = 0x400
SEGMENTS = ["es", "cs", "ss", "ds", "fs", "gs", "gdtr", "ldtr", "idtr", "tr"]
SAVE = [(0x10 * i, 16, s, "seg") for i, s in enumerate(SEGMENTS)] + [
    (0x0CA, 1, "vmpl", None),
    (0x0CB, 1, "cpl", None),
    (0x0D0, 8, "efer", "efer"),
    (0x140, 8, "xss", None),
    (0x148, 8, "cr4", "cr4"),
    (0x150, 8, "cr3", None),
    (0x158, 8, "cr0", "cr0"),
    (0x160, 8, "dr7", None),
    (0x168, 8, "dr6", None),
    (0x170, 8, "rflags", "rflags"),
    (0x178, 8, "rip", None),
    (0x1D8, 8, "rsp", None),
    (0x1E0, 8, "s_cet", None),
    (0x1E8, 8, "ssp", None),
    (0x1F0, 8, "isst_addr", None),
    (0x1F8, 8, "rax", None),
    (0x200, 8, "star", None),
    (0x208, 8, "lstar", None),
    (0x210, 8, "cstar", None),
    (0x218, 8, "sfmask", None),
    (0x220, 8, "kernel_gs_base", None),
    (0x228, 8, "sysenter_cs", None),
    (0x230, 8, "sysenter_esp", None),
    (0x238, 8, "sysenter_eip", None),
    (0x240, 8, "cr2", None),
    (0x268, 8, "g_pat", None),
    (0x270, 8, "dbgctl", None),
    (0x278, 8, "br_from", None),
    (0x280, 8, "br_to", None),
    (0x288, 8, "lastexcpfrom", None),
    (0x290, 8, "lastexcpto", None),
    (0x2E0, 8, "spec_ctrl", None),
]
# struct vmcb_seg: (offset, size, name)
SEG = [(0x0, 2, "selector"), (0x2, 2, "attrib"), (0x4, 4, "limit"), (0x8, 8, "base")]
# Shown only when not zero (or with vmcb -a): features svmlab does not use.
RARE = {"pause_filter_thresh", "pause_filter_count", "tsc_offset", "avic_apic_bar", "ghcb_gpa",
        "virt_ext", "next_rip", "insn_len", "insn_bytes", "avic_backing_page", "avic_logical_id",
        "avic_physical_id", "vmsa_pa", "vmpl", "xss", "s_cet", "ssp", "isst_addr", "dbgctl",
        "br_from", "br_to", "lastexcpfrom", "lastexcpto", "spec_ctrl", "star", "lstar", "cstar",
        "sfmask", "kernel_gs_base", "sysenter_cs", "sysenter_esp", "sysenter_eip"}


class Vmcb:
    """A VMCB read from memory: c[name] and s[name] are the field values."""

    def __init__(self, va):
        self.va = va
        self.pa = kva2pa(va)
        self.raw = read(va, 4096)
        self.c = {n: self._get(o, sz) for o, sz, n, _ in CONTROL}
        self.s = {n: self._get(SAVE_BASE + o, sz) for o, sz, n, _ in SAVE}

    def _get(self, off, size):
        b = self.raw[off:off + size]
        if size == 16 and off >= SAVE_BASE:      # a segment
            return dict((n, int.from_bytes(b[o:o + s], "little")) for o, s, n in SEG)
        if size in (1, 2, 4, 8):
            return int.from_bytes(b, "little")
        if size == 24:                            # intercepts[6]
            return list(struct.unpack("<6I", b))
        return b


# ---------------------------------------------------------------------------
# Decoding (names follow svm.h's INTERCEPT_*, SVM_EXIT_*, ... without prefix)

def bits(value, names):
    """Names of the set bits: names is {bit: name} or a list indexed by bit."""
    items = names.items() if isinstance(names, dict) else enumerate(names)
    return [n for b, n in items if n and value >> b & 1]


EXC_NAMES = {0: "#DE", 1: "#DB", 2: "NMI", 3: "#BP", 4: "#OF", 5: "#BR", 6: "#UD", 7: "#NM",
             8: "#DF", 9: "CSO", 10: "#TS", 11: "#NP", 12: "#SS", 13: "#GP", 14: "#PF",
             16: "#MF", 17: "#AC", 18: "#MC", 19: "#XF", 20: "#VE", 21: "#CP", 28: "#HV",
             29: "#VC", 30: "#SX"}
MISC1 = ["INTR", "NMI", "SMI", "INIT", "VINTR", "CR0_SEL", "IDTR_READ", "GDTR_READ",
         "LDTR_READ", "TR_READ", "IDTR_WRITE", "GDTR_WRITE", "LDTR_WRITE", "TR_WRITE", "RDTSC",
         "RDPMC", "PUSHF", "POPF", "CPUID", "RSM", "IRET", "INTN", "INVD", "PAUSE", "HLT",
         "INVLPG", "INVLPGA", "IOIO_PROT", "MSR_PROT", "TASK_SWITCH", "FERR_FREEZE", "SHUTDOWN"]
MISC2 = ["VMRUN", "VMMCALL", "VMLOAD", "VMSAVE", "STGI", "CLGI", "SKINIT", "RDTSCP", "ICEBP",
         "WBINVD", "MONITOR", "MWAIT", "MWAIT_COND", "XSETBV", "RDPRU", "EFER_WRITE_TRAP"] + \
    ["CR%d_WRITE_TRAP" % n for n in range(16)]
MISC3 = ["INVLPGB", "INVLPGB_ILL", "INVPCID", "MCOMMIT", "TLBSYNC"]
INTERCEPT_WORDS = [
    ("CR", ["CR%d_READ" % n for n in range(16)] + ["CR%d_WRITE" % n for n in range(16)]),
    ("DR", ["DR%d_READ" % n for n in range(16)] + ["DR%d_WRITE" % n for n in range(16)]),
    ("EXC", EXC_NAMES),
    ("MISC1", MISC1),
    ("MISC2", MISC2),
    ("MISC3", MISC3),
]

EXIT_NAMES = {
    0x060: "INTR", 0x061: "NMI", 0x062: "SMI", 0x063: "INIT", 0x064: "VINTR",
    0x065: "CR0_SEL_WRITE", 0x066: "IDTR_READ", 0x067: "GDTR_READ", 0x068: "LDTR_READ",
    0x069: "TR_READ", 0x06A: "IDTR_WRITE", 0x06B: "GDTR_WRITE", 0x06C: "LDTR_WRITE",
    0x06D: "TR_WRITE", 0x06E: "RDTSC", 0x06F: "RDPMC", 0x070: "PUSHF", 0x071: "POPF",
    0x072: "CPUID", 0x073: "RSM", 0x074: "IRET", 0x075: "SWINT", 0x076: "INVD", 0x077: "PAUSE",
    0x078: "HLT", 0x079: "INVLPG", 0x07A: "INVLPGA", 0x07B: "IOIO", 0x07C: "MSR",
    0x07D: "TASK_SWITCH", 0x07E: "FERR_FREEZE", 0x07F: "SHUTDOWN", 0x080: "VMRUN",
    0x081: "VMMCALL", 0x082: "VMLOAD", 0x083: "VMSAVE", 0x084: "STGI", 0x085: "CLGI",
    0x086: "SKINIT", 0x087: "RDTSCP", 0x088: "ICEBP", 0x089: "WBINVD", 0x08A: "MONITOR",
    0x08B: "MWAIT", 0x08C: "MWAIT_COND", 0x08D: "XSETBV", 0x08E: "RDPRU",
    0x08F: "EFER_WRITE_TRAP", 0x0A0: "INVLPGB", 0x0A1: "INVLPGB_ILLEGAL", 0x0A2: "INVPCID",
    0x0A3: "MCOMMIT", 0x0A4: "TLBSYNC", 0x400: "NPF", 0x401: "AVIC_INCOMPLETE_IPI",
    0x402: "AVIC_NOACCEL", 0x403: "VMGEXIT",
}


def exit_name(code):
    """SVM_EXIT_* name without the prefix. VMEXIT_INVALID is recognised on the
    low 32 bits: QEMU 7.2 writes 0x00000000FFFFFFFF, hardware all ones."""
    low = code & 0xFFFFFFFF
    if low == 0xFFFFFFFF:
        return "INVALID"
    if low == 0xFFFFFFFE:
        return "BUSY"
    if code in EXIT_NAMES:
        return EXIT_NAMES[code]
    for base, fmt in ((0x00, "READ_CR%d"), (0x10, "WRITE_CR%d"), (0x20, "READ_DR%d"),
                      (0x30, "WRITE_DR%d"), (0x90, "CR%d_WRITE_TRAP")):
        if base <= code < base + 16:
            return fmt % (code - base)
    if 0x40 <= code < 0x60:
        v = code - 0x40
        return "EXCP_%s" % EXC_NAMES.get(v, str(v)).lstrip("#")
    return "unknown"


def decode_ioio(info1, info2):
    """EXITINFO1 of an IOIO exit (APM Vol. 2 §15.10.2): bit 0 IN, 2 string,
    3 REP, 4-6 operand size, 7-9 address size, 12:10 segment, 31:16 port."""
    size = 1 if info1 & 0x10 else 2 if info1 & 0x20 else 4 if info1 & 0x40 else 0
    asz = 16 if info1 & 0x80 else 32 if info1 & 0x100 else 64 if info1 & 0x200 else None
    parts = ["IN" if info1 & 1 else "OUT", "port 0x%x" % (info1 >> 16 & 0xFFFF),
             "size %d" % size]
    if info1 & 4:
        parts.append("string")
    if info1 & 8:
        parts.append("rep")
    if asz:
        parts.append("a%d" % asz)
    return " ".join(parts) + "; next RIP 0x%x" % info2


NPF_BITS = {1: "W", 2: "U", 3: "RSV", 4: "FETCH", 32: "FINAL", 33: "PTWALK"}


def decode_npf(info1, info2):
    """NPF (§15.25.6): EXITINFO1 is a #PF-style error code (P present, W write,
    U user, RSV reserved bit, FETCH instruction fetch; bit 32 the final
    guest-physical access, bit 33 a guest page-table walk); EXITINFO2 the GPA."""
    names = ["P" if info1 & 1 else "not-present"] + bits(info1, NPF_BITS)
    return "gpa 0x%x, error 0x%x [%s]" % (info2, info1, " ".join(names))


def decode_exit(code, info1, info2):
    """One line describing what EXITINFO1/2 say for this exit code."""
    name = exit_name(code)
    if name == "IOIO":
        return decode_ioio(info1, info2)
    if name == "NPF":
        return decode_npf(info1, info2)
    if name == "MSR":
        return "WRMSR" if info1 & 1 else "RDMSR"
    if name.startswith("EXCP_"):
        s = "error code 0x%x" % info1
        return s + (", fault address 0x%x" % info2 if name == "EXCP_PF" else "")
    if name.startswith(("READ_", "WRITE_")) and info1 >> 63:
        return "MOV with GPR %d" % (info1 & 15)
    if name == "INVALID":
        return "VMRUN refused the guest state (APM §15.5.1 consistency checks)"
    if name == "SHUTDOWN":
        return "triple fault: the guest state is undefined"
    return ""


EVENT_TYPES = {0: "INTR", 2: "NMI", 3: "EXCEPTION", 4: "SOFT_INT"}


def decode_event(v):
    """EVENTINJ / EXITINTINFO (§15.20): vector 7:0, type 10:8, EV 11 (push an
    error code), V 31, error code 63:32."""
    if not v >> 31 & 1:
        return "none" if v == 0 else "not valid"
    vec, typ = v & 0xFF, v >> 8 & 7
    name = EXC_NAMES.get(vec, "") if typ == 3 else ""
    s = "valid %s vector %d%s" % (EVENT_TYPES.get(typ, "type%d" % typ), vec,
                                  " (%s)" % name if name else "")
    if v >> 11 & 1:
        s += " error 0x%x" % (v >> 32)
    return s


def decode_int_ctl(v):
    """int_ctl (§15.21): V_TPR 7:0, V_IRQ 8, V_GIF 9, V_INTR_PRIO 19:16,
    V_IGN_TPR 20, V_INTR_MASKING 24, V_GIF_ENABLE 25, AVIC 31, vector 39:32."""
    parts = ["V_TPR=%d" % (v & 0xFF)]
    parts += bits(v, {8: "V_IRQ", 9: "V_GIF", 20: "V_IGN_TPR", 24: "V_INTR_MASKING",
                      25: "V_GIF_ENABLE", 31: "AVIC_ENABLE"})
    if v >> 8 & 1:
        parts.append("prio=%d vector=0x%x" % (v >> 16 & 0xF, v >> 32 & 0xFF))
    return " ".join(parts)


TLB_CONTROL = {0: "DO_NOTHING", 1: "FLUSH_ALL", 3: "FLUSH_ASID", 7: "FLUSH_ASID_NG"}
CLEAN = ["INTERCEPTS", "PERM_MAP", "ASID", "INTR", "NPT", "CR", "DR", "DT", "SEG", "CR2",
         "LBR", "AVIC", "CET"]
EFER = {0: "SCE", 8: "LME", 10: "LMA", 11: "NXE", 12: "SVME", 13: "LMSLE", 14: "FFXSR", 15: "TCE"}
CR0 = {0: "PE", 1: "MP", 2: "EM", 3: "TS", 4: "ET", 5: "NE", 16: "WP", 18: "AM", 29: "NW",
       30: "CD", 31: "PG"}
CR4 = {0: "VME", 1: "PVI", 2: "TSD", 3: "DE", 4: "PSE", 5: "PAE", 6: "MCE", 7: "PGE", 8: "PCE",
       9: "OSFXSR", 10: "OSXMMEXCPT", 11: "UMIP", 12: "LA57", 16: "FSGSBASE", 17: "PCIDE",
       18: "OSXSAVE", 20: "SMEP", 21: "SMAP", 22: "PKE", 23: "CET"}
RFLAGS = {0: "CF", 2: "PF", 4: "AF", 6: "ZF", 7: "SF", 8: "TF", 9: "IF", 10: "DF", 11: "OF",
          14: "NT", 16: "RF", 17: "VM", 18: "AC", 19: "VIF", 20: "VIP", 21: "ID"}

DECODERS = {
    "tlb_control": lambda v: TLB_CONTROL.get(v, "?"),
    "int_ctl": decode_int_ctl,
    "int_state": lambda v: " ".join(bits(v, {0: "INTERRUPT_SHADOW", 1: "GUEST_INT_MASK"})),
    "exitcode": exit_name,
    "event": decode_event,
    "nested_ctl": lambda v: " ".join(bits(v, {0: "NP_ENABLE", 1: "SEV", 2: "SEV_ES"})),
    "virt_ext": lambda v: " ".join(bits(v, {0: "LBR_VIRT", 1: "VMSAVE_VIRT"})),
    "clean": lambda v: " ".join(bits(v, CLEAN)),
    "efer": lambda v: " ".join(bits(v, EFER)),
    "cr0": lambda v: " ".join(bits(v, CR0)),
    "cr4": lambda v: " ".join(bits(v, CR4)),
    "rflags": lambda v: " ".join(bits(v, RFLAGS) + ["IOPL=%d" % (v >> 12 & 3)] * bool(v >> 12 & 3)),
}


def decode_attrib(a):
    """A save-area segment attribute (svm.h): descriptor bits 47:40 in 7:0
    (type, S, DPL, P) and 55:52 in 11:8 (AVL, L, D/B, G)."""
    typ, s = a & 0xF, a >> 4 & 1
    if s and typ & 8:
        t = "code" + "".join(c for b, c in ((2, " C"), (1, " R"), (0, " A")) if typ >> b & 1)
    elif s:
        t = "data" + "".join(c for b, c in ((2, " E"), (1, " W"), (0, " A")) if typ >> b & 1)
    else:
        t = {2: "LDT", 3: "TSS16-busy", 9: "TSS-avail", 0xB: "TSS-busy"}.get(typ, "system type %d" % typ)
    flags = ["P"] * (a >> 7 & 1) + ["L"] * (a >> 9 & 1) + ["DB"] * (a >> 10 & 1) + ["G"] * (a >> 11 & 1)
    return "%s DPL%d %s" % (t, a >> 5 & 3, " ".join(flags))


def guest_mode(cr0, cr4, efer, cs_attrib, rflags):
    """The guest's operating mode and paging, as VMRUN would load them."""
    if not cr0 & 1:
        mode = "real mode"
    elif rflags >> 17 & 1:
        mode = "virtual-8086 mode"
    elif efer >> 10 & 1:
        mode = "long mode, 64-bit" if cs_attrib >> 9 & 1 else "long mode, compatibility"
    else:
        mode = "protected mode, %d-bit" % (32 if cs_attrib >> 10 & 1 else 16)
    if not cr0 >> 31 & 1:
        paging = "paging off"
    elif efer >> 10 & 1:
        paging = "%d-level paging" % (5 if cr4 >> 12 & 1 else 4)
    else:
        paging = "PAE paging" if cr4 >> 5 & 1 else "32-bit paging"
    return mode, paging


def vmcb_summary(v):
    """Two lines: the guest's mode and where it is, and the last exit."""
    s, c = v.s, v.c
    mode, paging = guest_mode(s["cr0"], s["cr4"], s["efer"], s["cs"]["attrib"], s["rflags"])
    cs = s["cs"]
    where = "rip 0x%x" % s["rip"]
    if not s["cr0"] & 1:
        where = "CS:IP %04x:%04x (linear 0x%x)" % (cs["selector"], s["rip"] & 0xFFFF, cs["base"] + s["rip"])
    np = "nested paging nCR3 0x%x" % c["ncr3"] if c["nested_ctl"] & 1 else "no nested paging"
    lines = ["guest: %s, %s, CPL %d, %s; %s, ASID %d" % (mode, paging, s["cpl"], where, np, c["asid"])]
    code = c["exitcode"]
    detail = decode_exit(code, c["exitinfo1"], c["exitinfo2"])
    lines.append("exit:  %s (0x%x)%s" % (exit_name(code), code, "  " + detail if detail else ""))
    if c["exitintinfo"] >> 31 & 1:
        lines.append("       interrupted delivery: %s" % decode_event(c["exitintinfo"]))
    return lines


def exitinfo_text(c, name):
    """What EXITINFO1/2 mean for the exit in control area c (table rows)."""
    code = c["exitcode"]
    if name == "exitinfo1":
        return decode_exit(code, c["exitinfo1"], c["exitinfo2"]).split(";")[0]
    return {"IOIO": "next RIP", "NPF": "guest-physical address",
            "EXCP_PF": "fault address (CR2)"}.get(exit_name(code), "")


def fmt_field(name, off, value, decoder):
    if decoder == "intercepts":
        out = []
        for i, (word, names) in enumerate(INTERCEPT_WORDS):
            out.append("  0x%03x %-22s 0x%08x  %s" % (off + 4 * i, "intercepts[%s]" % word, value[i],
                                                     " ".join(bits(value[i], names))))
        return out
    if decoder == "seg":
        return ["  0x%03x %-22s sel 0x%04x attrib 0x%03x limit 0x%08x base 0x%x  %s"
                % (off, name, value["selector"], value["attrib"], value["limit"], value["base"],
                   decode_attrib(value["attrib"]) if value["attrib"] else "")]
    if decoder == "bytes":
        return ["  0x%03x %-22s %s" % (off, name, value.hex(" "))]
    text = DECODERS[decoder](value) if decoder in DECODERS else ""
    return ["  0x%03x %-22s 0x%-16x %s" % (off, name, value, text)]


def is_zero(value):
    if isinstance(value, dict):
        return not any(value.values())
    if isinstance(value, (bytes, list)):
        return not any(value)
    return value == 0


def vmcb_lines(v, what="cs", show_all=False):
    out = []
    for area, table, base, vals in (("c", CONTROL, 0, v.c), ("s", SAVE, SAVE_BASE, v.s)):
        if area not in what:
            continue
        out.append("control area (0x000-0x3ff):" if area == "c" else "save area (0x400-0xfff):")
        for off, _, name, dec in table:
            if show_all or name not in RARE or not is_zero(vals[name]):
                out += fmt_field(name, base + off, vals[name], dec)
                if name in ("exitinfo1", "exitinfo2"):
                    out[-1] += exitinfo_text(v.c, name)
    return out


# ---------------------------------------------------------------------------
# Where #VMEXIT lands: the instruction after each VMRUN in the kernel

_vmexit_points = None


def _vmrun_sites():
    """Addresses of VMRUN instructions (0F 01 D8) in the kernel's .text,
    each confirmed by disassembling its function from the start."""
    obj = gdb.objfiles()[0]
    text = next(s for s in _elf_sections(obj.filename) if s[0] == ".text")
    _, addr, data = text
    arch = gdb.selected_frame().architecture() if gdb.selected_thread() else None
    sites, i = [], data.find(b"\x0f\x01\xd8")
    # Disassemble the file's bytes, not memory: before paging is on (at the
    # first prompt) the kernel's addresses are not mapped.
    trust = gdb.parameter("trust-readonly-sections")
    gdb.execute("set trust-readonly-sections on")
    try:
        while i >= 0:
            a = addr + i
            if arch is None or _insn_at(arch, a) == "vmrun":
                sites.append(a)
            i = data.find(b"\x0f\x01\xd8", i + 1)
    finally:
        gdb.execute("set trust-readonly-sections %s" % ("on" if trust else "off"))
    return sites


def _insn_at(arch, a):
    """The mnemonic of the instruction that starts at a, or None when a is in
    the middle of another instruction (disassembled from the symbol start)."""
    info = gdb.execute("info symbol 0x%x" % a, to_string=True)
    off = int(info.split(" + ")[1].split()[0]) if " + " in info else 0
    pc = a - off
    for insn in arch.disassemble(pc, a):
        if insn["addr"] == a:
            return insn["asm"].split()[0]
    return None


def _elf_sections(path):
    """[(name, addr, bytes)] of an ELF64 file's sections (enough ELF for us)."""
    with open(path, "rb") as f:
        elf = f.read()
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)
    hdrs = [struct.unpack_from("<IIQQQQ", elf, shoff + i * shentsize) for i in range(shnum)]
    strtab = elf[hdrs[shstrndx][4]:]
    out = []
    for name, typ, _, addr, off, size in hdrs:
        n = strtab[name:strtab.index(b"\0", name)].decode()
        out.append((n, addr, elf[off:off + size] if typ != 8 else b""))
    return out


def vmexit_points():
    """The addresses where a #VMEXIT resumes the host: `svm_vmexit_point` if
    the kernel defines it, plus the instruction after every VMRUN."""
    global _vmexit_points
    if _vmexit_points is None:
        pts = set()
        try:
            pts.add(addr_of("svm_vmexit_point"))
        except gdb.error:
            pass
        pts.update(a + 3 for a in _vmrun_sites())
        _vmexit_points = sorted(pts)
    return _vmexit_points


# ---------------------------------------------------------------------------
# Finding a VMCB


def current_vmcb_va():
    """The VMCB of this CPU: at a #VMEXIT point RAX still holds the VMCB's
    physical address (VMRUN's operand, restored by #VMEXIT); elsewhere
    svm_data[cpu].current_vmcb (set by vcpu_load)."""
    try:
        pc = reg("pc")
    except gdb.error:
        pc = None
    if pc in vmexit_points():
        return reg("rax") + PHYSBASE, "RAX at the #VMEXIT point"
    cpu = current_cpu()
    va = int(svm_data(cpu)["current_vmcb"])
    if not va:
        raise gdb.GdbError("cpu%d has no current VMCB (svm_data[%d].current_vmcb is NULL): "
                           "give an address, e.g. vmcb v->vmcb" % (cpu, cpu))
    return va, "svm_data[%d].current_vmcb" % cpu


def vmcb_from_expr(arg):
    """A VMCB address from an expression: a struct vcpu / vmcb_info /
    svm_cpu_data / vmcb (or pointer to one), or a number. A number below the
    kernel half is a physical address (VMRUN's operand, N_CR3, ...)."""
    v = gdb.parse_and_eval(arg)
    t = v.type.strip_typedefs()
    if t.code == gdb.TYPE_CODE_STRUCT:
        v, t = v.address, v.address.type.strip_typedefs()
    if t.code == gdb.TYPE_CODE_PTR:
        tag = t.target().strip_typedefs().tag
        p = int(v.cast(ULONG()))
        field = {"vcpu": "vmcb", "vmcb_info": "ptr", "svm_cpu_data": "current_vmcb"}.get(tag)
        if field:
            p = u64(p + field_offset("struct " + tag, field))
        return p, "%s%s" % (arg, "->" + field if field else "")
    p = int(v) & (2**64 - 1)
    if p < PHYSBASE:
        return p + PHYSBASE, "physical address 0x%x" % p
    return p, arg


class SvmPrefix(gdb.Command):
    """svmlab's AMD SVM commands (tools/gdb/svm.py).

vmcb [-a] [-c|-s|-x] [EXPR]  a VMCB, decoded (default: this CPU's current one)
hsave                       each CPU's EFER.SVME, host save area, VM_HSAVE_PA state
vmexits [on|log|off] [NAME...]  stop at (or log) every #VMEXIT; NAME e.g. IOIO, NPF
vcpus                       every VM's vcpus: VM, last CPU, ASID, loaded state
gbreak LINEAR               stop when a guest executes the instruction at LINEAR
guest                       where the CPU is while stopped inside a guest
Type "help COMMAND" for each one."""

    def __init__(self):
        super().__init__("svm", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        print(self.__doc__)


class VmcbCommand(gdb.Command):
    """Print a VMCB with every field named and decoded.

Usage: vmcb [-a] [-c|-s|-x] [EXPR]
With no EXPR: this CPU's current VMCB. At a #VMEXIT point (vmexits, or a
breakpoint after VMRUN) that is the VMCB whose physical address is in RAX;
elsewhere svm_data[cpu].current_vmcb, the cpu found from GS base or, when GS
is the guest's, from gdb's thread number (thread N = cpu with APIC id N-1).
EXPR: a struct vcpu, vmcb_info, svm_cpu_data or vmcb, a pointer to one
(e.g. v, v->vmcb, &svm_data[1]), or an address; an address below the
kernel half is taken as physical (e.g. vmcb $rax before VMRUN).
  -c control area only, -s save area only, -x the two summary lines only,
  -a also fields svmlab does not use while they are zero.
Output: guest mode (real/protected/long, paging, CPL, where), the exit
(SVM_EXIT_* name; IOIO port/size/direction, NPF address and error bits),
then each field: VMCB offset, name (as in kern/svm/svm.h), value, decoding."""

    def __init__(self):
        super().__init__("vmcb", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def invoke(self, arg, from_tty):
        need_target()
        words, show_all, what = arg.split(), False, "cs"
        while words and words[0] in ("-a", "-c", "-s", "-x"):
            flag = words.pop(0)
            show_all = show_all or flag == "-a"
            what = {"-c": "c", "-s": "s", "-x": ""}.get(flag, what)
        expr = " ".join(words)
        va, how = vmcb_from_expr(expr) if expr else current_vmcb_va()
        v = Vmcb(va)
        print("VMCB at 0x%x (physical 0x%x), from %s" % (va, v.pa, how))
        for line in vmcb_summary(v) + vmcb_lines(v, what, show_all):
            print(line)


# ---------------------------------------------------------------------------
# hsave


def thread_reg(thread, name):
    """Register `name` of another gdb thread (vCPU); the selection is restored."""
    cur = gdb.selected_thread()
    frame = gdb.selected_frame()
    try:
        thread.switch()
        return reg(name)
    finally:
        cur.switch()
        try:
            frame.select()
        except gdb.error:
            pass


def cpu_threads():
    """{kernel cpu index: gdb thread}."""
    inf = gdb.selected_inferior()
    return dict((thread_cpu(t), t) for t in inf.threads())


class HsaveCommand(gdb.Command):
    """Show each CPU's SVM enable state and host save area.

Usage: hsave
For every CPU: EFER (read live from that vCPU: gdb's $efer) with SVME
(bit 12), svm_data[i].save_area_pa (what hsave.c wrote to MSR VM_HSAVE_PA,
APM Vol. 2 §15.30.4) and save_area, and svm_data[i].enabled, which
hsave.c sets only after reading VM_HSAVE_PA back equal to save_area_pa.
gdb cannot read MSRs, so the VM_HSAVE_PA column is that read-back check,
not the MSR itself. The host save area belongs to the processor: software
must not read or write it while SVM is on."""

    def __init__(self):
        super().__init__("hsave", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        need_target()
        threads = cpu_threads()
        print("cpu apic EFER    SVME  VM_HSAVE_PA (save_area_pa)  save_area           enabled  current_vmcb")
        for i in range(ncpu()):
            sd, apic = svm_data(i), int(cpu_struct(i)["apicid"])
            efer = thread_reg(threads[i], "efer") if i in threads else None
            svme = "?" if efer is None else str(efer >> 12 & 1)
            print("%-3d %-4d %-7s %-5s 0x%-25x 0x%-17x %-8s 0x%x" % (
                i, apic, "?" if efer is None else "0x%x" % efer, svme, int(sd["save_area_pa"]),
                int(sd["save_area"].cast(ULONG())),
                "yes" if int(sd["enabled"]) else "no",
                int(sd["current_vmcb"].cast(ULONG()))))
        print("(gdb cannot read MSRs: \"enabled yes\" means hsave.c read VM_HSAVE_PA back "
              "and it matched save_area_pa)")


# ---------------------------------------------------------------------------
# vmexits

class VmexitBreakpoint(gdb.Breakpoint):
    """An internal breakpoint after one VMRUN; stop() decides stop vs log."""

    def __init__(self, owner, addr):
        super().__init__("*0x%x" % addr, internal=True)
        self.owner = owner
        self.silent = True

    def stop(self):
        return self.owner.hit()


class VmexitsCommand(gdb.Command):
    """Stop at, or log, every #VMEXIT.

Usage: vmexits on [NAME...]   stop at every #VMEXIT (with NAMEs: only at those
                             exits, e.g. vmexits on IOIO NPF; others are logged)
       vmexits log [NAME...]  print one line per #VMEXIT and keep going
       vmexits off            remove the breakpoints and forget the counts
       vmexits                the mode, the #VMEXIT points and the exits counted
A #VMEXIT resumes the host at the instruction after VMRUN (in
svm_vmrun_regs, kern/svm/vmenter.S, and in the ktests' inline vmrun); these
commands put a breakpoint there. Each line shows the CPU, the exit name
(SVM_EXIT_* without the prefix) and code, the guest RIP saved in the VMCB
(pointing AT the intercepted instruction) and the decoded EXITINFO.
At the stop, `vmcb` shows the whole VMCB of that exit."""

    def __init__(self):
        super().__init__("vmexits", gdb.COMMAND_BREAKPOINTS)
        self.mode, self.names, self.bps, self.counts = "off", set(), [], {}
        self.last_key = None

    def invoke(self, arg, from_tty):
        need_target()
        words = arg.split()
        if not words:
            return self.status()
        if words[0] not in ("on", "log", "off"):
            raise gdb.GdbError("usage: vmexits [on|log|off] [NAME...]")
        for b in self.bps:
            b.delete()
        self.bps, self.mode = [], words[0]
        self.names = set(w.upper() for w in words[1:])
        if self.mode == "off":
            self.counts = {}
        else:
            self.bps = [VmexitBreakpoint(self, a) for a in vmexit_points()]
        self.status()

    def status(self):
        pts = ", ".join("0x%x <%s>" % (a, _symbol(a)) for a in vmexit_points())
        print("vmexits: %s%s; #VMEXIT points: %s" % (
            self.mode, " (stop at %s)" % " ".join(sorted(self.names)) if self.names else "", pts))
        if self.counts:
            print("  exits seen: " + ", ".join("%s %d" % kv for kv in sorted(self.counts.items())))

    def hit(self):
        """At a #VMEXIT point: count, print, and tell gdb whether to stop."""
        try:
            va, _ = current_vmcb_va()
            v = Vmcb(va)
        except (gdb.error, gdb.MemoryError) as e:
            print("vmexit: cannot read the VMCB: %s" % e)
            return True
        c = v.c
        name = exit_name(c["exitcode"])
        key = exit_serial()
        if key is not None and key == self.last_key:
            print("vmexit: the same #VMEXIT reported again (vcpu exit count %d unchanged): "
                  "not counted" % key[1])
            return False
        self.last_key = key
        self.counts[name] = self.counts.get(name, 0) + 1
        detail = decode_exit(c["exitcode"], c["exitinfo1"], c["exitinfo2"])
        if name == "VINTR":
            detail = (detail + "  " if detail else "") + "(interrupt window: the guest can take the line now)"
        elif name == "HLT":
            detail = (detail + "  " if detail else "") + (
                "(IF=1: the vcpu halts and blocks)" if v.s["rflags"] & 0x200 else "(IF=0: VM_EXIT_HLT to user space)")
        print("vmexit cpu%d: %s (0x%x) guest rip 0x%x%s" % (
            current_cpu(), name, c["exitcode"], v.s["rip"], "  " + detail if detail else ""))
        stop = self.mode == "on" and (not self.names or name in self.names)
        if stop:
            print("stopped at the #VMEXIT point %s; `vmcb` shows the VMCB" % _symbol(reg("pc")))
        return stop


def exit_serial():
    """(vcpu address, vcpu.nexits) at svm_vmrun_regs' #VMEXIT point, else None.
    vmenter.S keeps &v->gprs at (%rsp); run.c counts v->nexits after each
    exit, so an unchanged pair means gdb reported one #VMEXIT twice (seen
    rarely under load, when gdb steps over the breakpoint on a busy host)."""
    try:
        if _symbol(reg("pc")).split()[0] != "svm_vmrun_regs":
            return None
        v = u64(reg("rsp")) - field_offset("struct vcpu", "gprs")
        return (v, u64(v + field_offset("struct vcpu", "nexits")))
    except (gdb.error, gdb.MemoryError, StopIteration):
        return None


def _symbol(a):
    s = gdb.execute("info symbol 0x%x" % a, to_string=True).strip()
    return s.split(" in section")[0] if "No symbol" not in s else "?"


# ---------------------------------------------------------------------------
# vcpus

VM_EXIT_REASONS = ["NONE", "IO", "CPUID", "MSR", "HLT", "VMMCALL", "NPF", "EXCEPTION",
                   "SHUTDOWN", "INVALID", "INTR", "UNKNOWN", "DEADLINE", "KICK", "CONSOLE"]   # kern/vmabi.h VM_EXIT_*


def irq_parts(v):
    """Lab 5 state of vcpu v: the line, this run's INTA, the window, halting."""
    try:
        line, acked = int(v["irq_line"]), int(v["irq_acked"])
    except gdb.error:
        return []   # a tree without lab 5
    out = ["line %s" % ("0x%x" % line if line else "low")]
    if acked:
        out.append("acked 0x%x this run" % acked)
    if int(v["irq_window"]):
        out.append("interrupt window open (V_IRQ + VINTR)")
    if int(v["halted"]):
        out.append("halted, " + ("blocked in vcpu_block" if int(v["blocked"]) else "not asleep"))
    if int(v["kick"]):
        out.append("kick pending")
    if int(v["guest_cpu"]):
        out.append("in guest mode on cpu%d" % (int(v["guest_cpu"]) - 1))
    out.append("%d irqs, %d windows, %d blocks" % (int(v["nirqs"]), int(v["nwindows"]), int(v["nblocks"])))
    return out


def vcpu_line(p, current_on):
    """One vcpu at address p: what `vcpus` prints for it."""
    v = value_at(p, "struct vcpu")
    vmcb_va = int(v["vmcb"].cast(ULONG()))
    info = v["vmcb01"]
    loaded = "loaded on cpu%d" % int(v["cpu"]) if int(v["cpu"]) >= 0 else "not loaded"
    parts = ["  vcpu %d at 0x%x: %s" % (int(v["id"]), p, loaded)]
    if int(v["guest_state_loaded"]):
        parts.append("guest state VMLOADed")
    cur = [c for c, va in current_on.items() if va == vmcb_va]
    if cur:
        parts.append("current VMCB of " + ",".join("cpu%d" % c for c in cur))
    parts.append("last cpu %d, ASID %d (gen %d)" % (int(v["last_cpu"]), int(v["asid"]),
                                                    int(info["asid_generation"])))
    parts.append("VMCB 0x%x pa 0x%x" % (vmcb_va, int(info["pa"])))
    try:
        guest = Vmcb(vmcb_va)
        parts.append("guest rip 0x%x, last exit %s" % (guest.s["rip"], exit_name(guest.c["exitcode"])))
    except gdb.MemoryError:
        pass
    parts.append("%d exits" % int(v["nexits"]))
    parts.extend(irq_parts(v))
    pend = int(v["pending"])
    if pend:
        parts.append("pending %s" % (VM_EXIT_REASONS[pend] if pend < len(VM_EXIT_REASONS) else pend))
    if int(v["dead"]):
        parts.append("DEAD")
    return "; ".join(parts)


class VcpusCommand(gdb.Command):
    """List every VM and its vcpus.

Usage: vcpus
From kern/sysvm.c's table vms[]: each VM in use with its owner pid, then
each vcpu: loaded (between vcpu_load and vcpu_put, on which CPU), whether its
guest state is VMLOADed, which CPUs have its VMCB as svm_data[].current_vmcb,
the CPU it last ran on, its ASID and ASID generation, its VMCB, the guest
RIP and last exit in the VMCB, exits counted, a pending completion. Then the
CPUs whose current VMCB belongs to no VM (a ktest's vcpu)."""

    def __init__(self):
        super().__init__("vcpus", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        need_target()
        ulong = ULONG()
        current_on = dict((i, int(svm_data(i)["current_vmcb"].cast(ulong))) for i in range(ncpu()))
        seen = set()
        try:
            base, vmtype = addr_of("vms"), gdb.lookup_type("struct vm")
        except gdb.error:
            base = None
            print("no VM table (kern/sysvm.c's vms[]) in this kernel")
        nvm = array_len("vms") if base is not None else 0
        for h in range(nvm):
            vm = value_at(base + h * vmtype.sizeof, "struct vm")
            if not int(vm["used"]):
                continue
            print("vm %d: pid %d, %d vcpus, nCR3 0x%x" % (h, int(vm["pid"]), int(vm["nvcpu"]),
                                                        int(vm["npt"]["pml4_pa"])))
            for i in range(int(vm["nvcpu"])):
                p = int(vm["vcpu"][i].cast(ulong))
                seen.add(u64(p + field_offset("struct vcpu", "vmcb")))
                print(vcpu_line(p, current_on))
        if not any(int(value_at(base + h * vmtype.sizeof, "struct vm")["used"]) for h in range(nvm)):
            print("no VMs")
        for c, va in sorted(current_on.items()):
            if va and va not in seen:
                print("cpu%d: current VMCB 0x%x belongs to no VM (a ktest's vcpu?)" % (c, va))


# ---------------------------------------------------------------------------
# Guest breakpoints


def in_guest():
    """Best guess whether this CPU is running a guest (gdb cannot see QEMU's
    guest-mode flag): real mode (the host never is after boot), or CPL 0 below
    the kernel half (the kernel runs only at high addresses, user programs at
    CPL 3)."""
    if not reg("cr0") & 1:
        return True
    return (reg("cs") & 3) == 0 and reg("pc") < PHYSBASE


class GuestBreakpoint(gdb.Breakpoint):
    """A breakpoint on a guest linear address that ignores host hits."""

    def stop(self):
        return in_guest()


class GbreakCommand(gdb.Command):
    """Stop when a guest executes the instruction at a linear address.

Usage: gbreak LINEAR      e.g. gbreak 0x1002
Under QEMU's TCG a guest runs on the same emulated CPU as the host, and
QEMU compares breakpoints with the linear address of each instruction
(segment base + RIP), whichever side runs. So `break *LINEAR` also stops in
a guest; gbreak adds a check that the CPU is in a guest (real mode, or CPL 0
below the kernel half), so host user programs at the same address do not
stop. For a real-mode guest LINEAR = CS.base + IP (vmcb -x shows it).
At the stop gdb's registers are the GUEST's ($rip is IP in real mode) and
gdb's x command reads memory without nested paging: use `guest` and vmcb.
stepi works inside the guest; `vmexits on` catches the way out."""

    def __init__(self):
        super().__init__("gbreak", gdb.COMMAND_BREAKPOINTS, gdb.COMPLETE_EXPRESSION)

    def invoke(self, arg, from_tty):
        if not arg.strip():
            raise gdb.GdbError("usage: gbreak LINEAR")
        a = int(gdb.parse_and_eval(arg)) & (2**64 - 1)
        b = GuestBreakpoint("*0x%x" % a)
        print("guest breakpoint %d at linear 0x%x" % (b.number, a))


class GuestCommand(gdb.Command):
    """Show where this CPU is while stopped inside a guest.

Usage: guest
The live registers when the CPU runs a guest (after gbreak or stepi past
VMRUN): mode, CS:IP and linear address, RAX/RSP, CR0/CR3/EFER, and the
VMCB it entered with (svm_data[cpu].current_vmcb; its save area is stale
until the next #VMEXIT writes it back)."""

    def __init__(self):
        super().__init__("guest", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        need_target()
        cpu = current_cpu()
        cr0, cr4, efer, fl, pc, cs = (reg(r) for r in ("cr0", "cr4", "efer", "eflags", "pc", "cs"))
        # gdb sees no hidden segment state: assume a 64-bit CS in long mode.
        mode, paging = guest_mode(cr0, cr4, efer, 0x200 if efer >> 10 & 1 else 0x400, fl)
        print("cpu%d is %s: %s, %s, CPL %d" % (cpu, "in a guest" if in_guest() else "NOT in a guest",
                                             mode, paging, 0 if not cr0 & 1 else cs & 3))
        if not cr0 & 1:
            print("CS:IP %04x:%04x, linear 0x%x" % (cs, pc & 0xFFFF, (cs << 4) + (pc & 0xFFFF)))
        else:
            print("cs 0x%x rip 0x%x" % (cs, pc))
        print("rax 0x%x rsp 0x%x rflags 0x%x [%s]" % (reg("rax"), reg("rsp"), fl, DECODERS["rflags"](fl)))
        print("cr0 0x%x [%s] cr3 0x%x efer 0x%x [%s]" % (cr0, DECODERS["cr0"](cr0), reg("cr3"), efer,
                                                        DECODERS["efer"](efer)))
        va = ptr(svm_data(cpu)["current_vmcb"])
        print("entered with the VMCB at 0x%x (svm_data[%d].current_vmcb)" % (va, cpu) if va else
              "svm_data[%d].current_vmcb is NULL" % cpu)


SvmPrefix()
VmcbCommand()
HsaveCommand()
VMEXITS = VmexitsCommand()
VcpusCommand()
GbreakCommand()
GuestCommand()
print("svmlab: SVM commands loaded: vmcb, hsave, vmexits, vcpus, gbreak, guest (help svm)")
