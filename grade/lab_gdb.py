"""The GDB helpers (an extra lab: graded, part of `make test`, no handout).

Each test boots QEMU stopped (-S) with its gdb stub on a Unix socket of its
own (so that tests running in parallel, and a `make qemu-gdb` on the usual
TCP port, never collide), runs gdb in batch mode through the tree's
committed .gdbinit (GDBPORT = the socket, B = the build directory), started
both ways a student starts it: `make gdb` and a plain `gdb` in the tree
(break_main), and checks what gdb printed. Where it can, a test checks gdb's decoding against what the
kernel itself prints after gdb detaches (the ktest's and the VMM's own
records), so a helper that reads a wrong field or decodes a bit wrongly
fails. The VMCB field table of tools/gdb/svm.py is checked against the
kernel's DWARF (gdb's `ptype /o`).
"""
import atexit
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time

from gradelib import test

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOCKDIR = tempfile.mkdtemp(prefix="svmlab-gdb-")
atexit.register(shutil.rmtree, SOCKDIR, True)


def stub(name):
    """QEMU arguments: start stopped, gdb stub on this test's socket."""
    return ["-S", "-gdb", "unix:%s,server=on,wait=off" % sock(name)]


def build_dir(r):
    """The directory QEMU runs in (grade.py's --build-dir)."""
    return os.readlink("/proc/%d/cwd" % r.q.proc.pid)


def sock(name):
    return os.path.join(SOCKDIR, name + ".sock")


def gdb_argv(r, gdb, args, name, way):
    """How gdb starts: `make gdb` (way "make", the Makefile's own command
    line, GDBARGS appended) or a plain gdb started in the tree (way "plain",
    which auto-loads ./.gdbinit once allowed, as README says). Either way the
    committed .gdbinit finds the stub in GDBPORT and the kernel in B."""
    if way == "make":
        return ["make", "-s", "--no-print-directory", "gdb", "GDBPORT=" + sock(name),
                "B=" + build_dir(r), "GDBARGS=-nx -batch " + " ".join(shlex.quote(a) for a in args).replace("$", "$$")]
    return [gdb, "-q", "-nh", "-batch", "-iex",
            "add-auto-load-safe-path " + os.path.join(ROOT, ".gdbinit")] + args


def run_gdb(r, args, name=None, way="make"):
    """Runs gdb in batch mode with args, through the tree's .gdbinit when name
    (the test's stub) is given; returns its output. Fails the test on a
    timeout or no gdb."""
    gdb = shutil.which("gdb")
    r.check(gdb, "gdb is not installed (sudo apt-get install -y gdb)")
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "SVMLAB_GDB_CONNECT")}
    if name:
        wait_socket(r, sock(name))
        env.update(GDBPORT=sock(name), B=build_dir(r))
        argv = gdb_argv(r, gdb, args, name, way)
    else:
        argv = [gdb, "-q", "-nx", "-batch"] + args
    left = r.time_left(margin=3, least=5)
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=left, cwd=ROOT, env=env)
    except subprocess.TimeoutExpired as e:
        r.fail("gdb did not finish within %.0fs; its output:\n%s"
               % (left, (e.output or b"").decode("utf-8", "replace")[-3000:]))
    return p.stdout.decode("utf-8", "replace")


def wait_socket(r, path):
    """QEMU creates its stub's socket a moment after it starts."""
    while not os.path.exists(path):
        r.check(time.monotonic() < r.q.deadline and r.q.proc.poll() is None,
                "QEMU did not open its gdb stub at %s" % path)
        time.sleep(0.02)


def ex(*cmds):
    out = []
    for c in cmds:
        out += ["-ex", c]
    return out


def need(r, out, pattern, what):
    """pattern must match gdb's output; returns the match."""
    m = re.search(pattern, out, re.M)
    if not m:
        r.fail("%s: expected /%s/ in gdb's output:\n%s" % (what, pattern, indent(out)))
    return m


def indent(text, n=60):
    lines = text.rstrip("\n").split("\n")[-n:]
    return "\n".join("      | " + l for l in lines)


def no_gdb_errors(r, out):
    for bad in (r"Python Exception", r"Error occurred in Python", r"packet reply is too long",
                r"^Undefined command"):
        m = re.search(bad, out, re.M)
        if m:
            r.fail("gdb reported an error (%s):\n%s" % (m.group(0), indent(out)))


# ---------------------------------------------------------------------------

def ptype_fields(text):
    """{name: (offset, size)} of the top-level members in `ptype /o` output
    (nested structs are entered and left by their braces)."""
    fields, depth, nested = {}, 0, []
    for line in text.split("\n"):
        m = re.match(r"^/\*\s*(\d+)(?::\s*\d+)?\s*\|\s*(\d+)\s*\*/\s*(.*)$", line)
        if m:
            off, size, decl = int(m.group(1)), int(m.group(2)), m.group(3).strip()
            if decl.startswith("type = "):
                continue
            if decl.endswith("{"):
                nested.append((off, size, depth))
                depth += 1
            elif depth == 0:
                fields[re.match(r".*?(\w+)(\[\d+\])*;$", decl).group(1)] = (off, size)
            continue
        m = re.match(r"^\s*\}\s*(\w+);", line)
        if m and nested:
            off, size, d = nested.pop()
            depth -= 1
            if d == 0:
                fields[m.group(1)] = (off, size)
    return fields


def table_vs_dwarf(r, table, dwarf, what):
    """Every entry of svm.py's table sits where the C struct has it, and every
    named field of the C struct is in the table."""
    mine = dict((n, (off, size)) for off, size, n in table)
    for n, (off, size) in mine.items():
        r.check(n in dwarf, "svm.py's %s field %s is not in the kernel's struct" % (what, n))
        r.check(dwarf[n] == (off, size), "svm.py's %s.%s is at 0x%x size %d, the kernel's at 0x%x "
                "size %d" % (what, n, off, size, dwarf[n][0], dwarf[n][1]))
    for n in dwarf:
        r.check(n.startswith("rsvd") or n in mine,
                "the kernel's %s has field %s that svm.py does not show" % (what, n))


@test(points=5, title="svm.py's VMCB table matches struct vmcb in the kernel's DWARF",
      cmdline="ktest=hsave", cpus=1, timeout=30, extra=stub("layout"))
def vmcb_layout(r):
    elf = os.path.join(build_dir(r), "kernel.elf")
    out = run_gdb(r, [elf] + ex(
        "echo @@control\\n", "ptype /o struct vmcb_control",
        "echo @@save\\n", "ptype /o struct vmcb_save",
        "echo @@seg\\n", "ptype /o struct vmcb_seg",
        "source %s" % os.path.join(ROOT, "tools", "gdb", "svm.py"),
        "echo @@table\\n",
        "python import json; print(json.dumps({'control': [t[:3] for t in CONTROL], "
        "'save': [t[:3] for t in SAVE], 'seg': SEG, 'save_base': SAVE_BASE}))"))
    no_gdb_errors(r, out)
    parts = dict(re.findall(r"^@@(\w+)\n(.*?)(?=^@@|\Z)", out, re.M | re.S))
    table = json.loads(parts["table"].strip().split("\n")[-1])
    r.check(table["save_base"] == 0x400, "svm.py puts the save area at 0x%x" % table["save_base"])
    for key in ("control", "save", "seg"):
        dwarf = ptype_fields(parts[key])
        r.check(len(dwarf) > 3, "could not read struct vmcb_%s from gdb:\n%s" % (key, indent(parts[key])))
        table_vs_dwarf(r, table[key], dwarf, "vmcb_" + key)


@test(points=5, title="plain gdb in the tree: break main + continue from a cold start stops in main, "
      "64-bit registers", cmdline="ktest=hsave", cpus=2, timeout=40, extra=stub("main"))
def break_main(r):
    out = run_gdb(r, ex("break main", "continue", "info registers rip rsp cs efer cr0",
                        "print sizeof(void *)", "print/x &main"), name="main", way="plain")
    no_gdb_errors(r, out)
    need(r, out, r"^svmlab: SVM commands loaded", "a plain gdb auto-loads ./.gdbinit, which sources "
         "tools/gdb/svm.py")
    need(r, out, r"^0x0*fff0 in \?\? \(\)", "gdb connected while QEMU waited at the reset vector")
    need(r, out, r"Breakpoint 1, main \(", "stopped at the breakpoint in main")
    main = need(r, out, r"^\$2 = (0x[0-9a-f]+)", "print &main").group(1)
    rip = need(r, out, r"^rip\s+(0x[0-9a-f]+)", "info registers rip").group(1)
    r.check(int(rip, 16) == int(main, 16), "rip %s is main (%s)" % (rip, main))
    rsp = int(need(r, out, r"^rsp\s+(0x[0-9a-f]+)", "info registers rsp").group(1), 16)
    r.check(rsp >> 47 == 0x1FFFF, "rsp 0x%x is a 64-bit higher-half address" % rsp)
    need(r, out, r"^efer\s+0x[0-9a-f]+\s+\[.*\bLMA\b.*\]", "EFER shows long mode active (LMA)")
    need(r, out, r"^cr0\s+0x[0-9a-f]+\s+\[.*\bPG\b.*\]", "CR0 shows paging on")
    need(r, out, r"^\$1 = 8$", "pointers are 8 bytes: gdb is in 64-bit mode")
    # gdb detached: the kernel boots on as usual.
    r.expect(r"^ktest hsave: \d+ checks, 0 failed")
    r.expect_exit(0)


def hsave_rows(out):
    """{cpu: (efer, svme, save_area_pa, enabled)} from `hsave`."""
    rows = {}
    for m in re.finditer(r"^(\d+)\s+(\d+)\s+(0x[0-9a-f]+|\?)\s+(\S)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(yes|no)",
                         out, re.M):
        rows[int(m.group(1))] = (m.group(3), m.group(4), int(m.group(5), 16), m.group(7))
    return rows


# gdb's own reading of the VMCB at a #VMEXIT point, through the kernel's
# struct vmcb (DWARF): RAX is VMRUN's operand, the VMCB's physical address,
# and the kernel maps all RAM at PHYSBASE (kern/memlayout.h).
VMCB_AT_EXIT = "((struct vmcb *)($rax + 0xffff800000000000))"
DWARF_FIELDS = ["control.exitcode", "control.exitinfo1", "control.exitinfo2", "save.rip", "save.rax",
                "save.cs.attrib", "control.intercepts[3]", "control.intercepts[4]"]


def dwarf_prints():
    cmds = ["echo @@dwarf\\n"]
    for f in DWARF_FIELDS:
        cmds.append("printf \"%s=0x%%lx\\n\", (unsigned long)%s->%s" % (f, VMCB_AT_EXIT, f))
    return cmds


def dwarf_values(r, out):
    vals = dict((k, int(v, 16)) for k, v in re.findall(r"^([\w.\[\]]+)=0x([0-9a-f]+)$", out, re.M))
    r.check(all(f in vals for f in DWARF_FIELDS), "gdb printed the VMCB fields:\n%s" % indent(out))
    return vals


def ioio_text(info1, info2):
    """How an IOIO exit reads (APM Vol. 2 §15.10.2), decoded here, not by svm.py."""
    size = {0x10: 1, 0x20: 2, 0x40: 4}[info1 & 0x70]
    return "%s port 0x%x size %d" % ("IN" if info1 & 1 else "OUT", info1 >> 16, size)


@test(points=10, title="vmexits stops at a guest's I/O exit; vmcb and hsave decode it right",
      cmdline="test=vmm hello.guest", cpus=2, timeout=90, extra=stub("ioio"))
def vmexit_ioio(r):
    out = run_gdb(r, ex(*(["vmexits on IOIO", "continue", "vmcb", "hsave", "vmexits"] + dwarf_prints()
                          + ["vmexits off"])), name="ioio")
    no_gdb_errors(r, out)
    d = dwarf_values(r, out)
    info1, info2, rip = d["control.exitinfo1"], d["control.exitinfo2"], d["save.rip"]
    r.check(d["control.exitcode"] == 0x7B, "the stop is an IOIO exit (exitcode 0x%x)" % d["control.exitcode"])
    # hello.guest polls the UART's line status register first: IN from 0x3FD
    r.check(ioio_text(info1, info2) == "IN port 0x3fd size 1", "the first I/O exit is hello.guest's IN "
            "from 0x3fd, not %s" % ioio_text(info1, info2))
    io = ioio_text(info1, info2)
    need(r, out, r"^vmexit cpu\d: IOIO \(0x7b\) guest rip 0x%x  %s; next RIP 0x%x$" % (rip, io, info2),
         "the vmexits line of the exit")
    need(r, out, r"^VMCB at 0xffff8[0-9a-f]+ \(physical 0x[0-9a-f]+\), from RAX at the #VMEXIT point",
         "vmcb finds the VMCB at the #VMEXIT point")
    need(r, out, r"^guest: real mode, paging off, CPL 0, CS:IP 0000:%04x \(linear 0x%x\); "
         r"nested paging nCR3 0x[0-9a-f]+, ASID [1-9]" % (rip, rip), "the guest summary")
    need(r, out, r"^exit:  IOIO \(0x7b\)  %s; next RIP 0x%x$" % (io, info2), "the exit summary")
    need(r, out, r"^  0x070 exitcode\s+0x7b\s+IOIO$", "exitcode at 0x070, decoded")
    need(r, out, r"^  0x078 exitinfo1\s+0x%x\s+%s$" % (info1, io), "exitinfo1 at 0x078, decoded")
    need(r, out, r"^  0x080 exitinfo2\s+0x%x\s+next RIP$" % info2, "exitinfo2 at 0x080")
    need(r, out, r"^  0x578 rip\s+0x%x\s*$" % rip, "save.rip at 0x578")
    need(r, out, r"^  0x5f8 rax\s+0x%x\s*$" % d["save.rax"], "save.rax at 0x5f8")
    need(r, out, r"^  0x00c intercepts\[MISC1\]\s+0x%08x  .*\bIOIO_PROT\b" % d["control.intercepts[3]"],
         "intercepts[MISC1] with IOIO_PROT")
    need(r, out, r"^  0x010 intercepts\[MISC2\]\s+0x%08x  VMRUN\b" % d["control.intercepts[4]"],
         "intercepts[MISC2] with VMRUN")
    need(r, out, r"^  0x090 nested_ctl\s+0x1\s+NP_ENABLE$", "nested_ctl decoded")
    need(r, out, r"^  0x410 cs\s+sel 0x0000 attrib 0x%03x limit 0x0000ffff base 0x0  code R A DPL0 P$"
         % d["save.cs.attrib"], "the guest's CS, attributes decoded")
    need(r, out, r"^  exits seen: (INTR \d+, )?IOIO 1$", "vmexits counted the exit")
    rows = hsave_rows(out)
    for cpu, pa in re.findall(r"^svm: cpu(\d+): EFER\.SVME=1 VM_HSAVE_PA=0x([0-9a-f]+)$", r.output, re.M):
        row = rows.get(int(cpu))
        r.check(row, "hsave shows cpu%s:\n%s" % (cpu, indent(out)))
        r.check(row[1] == "1" and int(row[0], 16) >> 12 & 1,
                "hsave: cpu%s EFER %s has SVME set" % (cpu, row[0]))
        r.check(row[2] == int(pa, 16), "hsave: cpu%s save_area_pa 0x%x = VM_HSAVE_PA 0x%s the kernel "
                "printed" % (cpu, row[2], pa))
        r.check(row[3] == "yes", "hsave: cpu%s enabled" % cpu)
    r.check(len(rows) == 2, "hsave shows the 2 CPUs:\n%s" % indent(out))
    r.expect(r"^init: test vmm exited with status 0$")
    r.expect_exit(0)


@test(points=5, title="gbreak stops at a guest instruction; stepi leaves the guest at its exit",
      cmdline="test=vmm hello.guest", cpus=1, timeout=90, extra=stub("gbreak"))
def guest_break(r):
    # the first exit gives the IN's address; the guest's polling loop comes back to it
    out = run_gdb(r, ex(*(["vmexits on IOIO", "continue", "set $in = %s->save.rip" % VMCB_AT_EXIT,
                           "vmexits off", "gbreak $in", "continue", "echo @@guest\\n", "guest",
                           "stepi", "echo @@exit\\n", "vmcb -x", "print/x $in"])), name="gbreak")
    no_gdb_errors(r, out)
    at = int(need(r, out, r"^\$1 = (0x[0-9a-f]+)$", "the IN's address").group(1), 16)
    guest, exit = out.split("@@guest\n", 1)[-1], out.split("@@exit\n", 1)[-1]
    need(r, guest, r"^cpu0 is in a guest: real mode, paging off, CPL 0$", "guest: the CPU is in the guest")
    need(r, guest, r"^CS:IP 0000:%04x, linear 0x%x$" % (at, at), "guest: at the breakpoint's linear address")
    need(r, exit, r"^exit:  IOIO \(0x7b\)  IN port 0x3fd size 1; next RIP 0x%x$" % (at + 1),
         "stepi over the guest's IN lands at the #VMEXIT with the IN's exit")
    r.expect(r"^init: test vmm exited with status 0$")
    r.expect_exit(0)


@test(points=5, title="on CPU 1: vmexits, vcpus and vmcb name the right CPU; vmexits log counts "
      "every exit", cmdline="test=vmm -C 1 hello.guest", cpus=2, timeout=90, extra=stub("vcpus"))
def vmexits_vcpus(r):
    out = run_gdb(r, ex("vmexits on IOIO", "continue", "echo @@first\\n", "vcpus",
                        "vmexits log", "break io_interception", "continue", "echo @@host\\n", "vmcb -x",
                        "delete", "break vm_proc_exit if vms[0].used", "continue", "echo @@last\\n",
                        "vcpus", "vmexits"), name="vcpus")
    no_gdb_errors(r, out)
    k = r.expect(r"^vmm: guest hello\.guest exited with code 0 after (\d+) exits \(io=(\d+),")
    total, io = int(k.group(1)), int(k.group(2))
    first, host, last = (out.split("@@%s\n" % w, 1)[-1] for w in ("first", "host", "last"))
    # at the #VMEXIT point GS is the guest's: the CPU comes from gdb's thread
    need(r, out, r"^vmexit cpu1: IOIO \(0x7b\) guest rip 0x[0-9a-f]+  IN port 0x3fd size 1; ",
         "the first I/O exit, on cpu1: the guest polls the UART's line status")
    need(r, first, r"^vm \d+: pid \d+, 1 vcpus, nCR3 0x[0-9a-f]+$", "vcpus: the VM")
    need(r, first, r"^  vcpu 0 at 0xffff8[0-9a-f]+: loaded on cpu1; guest state VMLOADed; current VMCB of "
         r"cpu1; last cpu -?\d+, ASID [1-9]\d* \(gen \d+\); VMCB 0x[0-9a-f]+ pa 0x[0-9a-f]+; "
         r"guest rip 0x[0-9a-f]+, last exit IOIO; \d+ exits", "vcpus at the first exit")
    # in io_interception GS is the host's again: the CPU comes from GS base
    need(r, host, r"^VMCB at 0xffff8[0-9a-f]+ \(physical 0x[0-9a-f]+\), from svm_data\[1\]\.current_vmcb$",
         "vmcb in the exit handler on cpu1 uses svm_data[1].current_vmcb")
    need(r, host, r"^exit:  IOIO \(0x7b\)  (IN|OUT) port 0x3f[8d] size 1; ", "vmcb -x: the I/O exit")
    logged = len(re.findall(r"^vmexit cpu1: IOIO \(0x7b\) ", out, re.M))
    r.check(logged == io, "vmexits logged %d IOIO exits on cpu1, the VMM counted io=%d:\n%s"
            % (logged, io, indent(out, 400) + "\n" + indent(r.output)))
    need(r, last, r"^  exits seen: .*\bIOIO %d\b" % io, "vmexits' count")
    n = int(need(r, last, r"^  vcpu 0 at 0xffff8[0-9a-f]+: not loaded; current VMCB of cpu1; last cpu 1, "
                 r"ASID [1-9]\d* \(gen \d+\); VMCB 0x[0-9a-f]+ pa 0x[0-9a-f]+; guest rip 0x[0-9a-f]+, "
                 r"last exit IOIO; (\d+) exits", "vcpus after the guest's last exit").group(1))
    r.check(n >= total, "vcpus: %d exits counted by the kernel, at least the VMM's %d" % (n, total))
    r.expect(r"^init: test vmm exited with status 0$")
    r.expect_exit(0)


@test(points=5, title="gphys, gvirt and gwalk read a long-mode guest's memory through its own page "
      "tables and the nested page table", cmdline="test=vmm long64.guest", cpus=1, timeout=90,
      extra=stub("gmem"))
def guest_memory(r):
    out = run_gdb(r, ex("vmexits on IOIO", "continue", "vmexits off", "set $g = " + VMCB_AT_EXIT,
                        "echo @@phys\\n", "gphys 0x1000 4", "echo @@virt\\n", "gvirt $g->save.rip 1",
                        "echo @@walk\\n", "gwalk $g->save.rip", "print/x $g->control.exitinfo1",
                        "print/x $g->save.rip", "echo @@miss\\n", "gphys 0x40000000 4"), name="gmem")
    no_gdb_errors(r, out.split("@@miss\n")[0])
    phys, virt = out.split("@@phys\n", 1)[-1], out.split("@@virt\n", 1)[-1]
    need(r, phys, r"^gpa 0x1000: 53 56 4d 47$", "gphys: the guest image's magic \"SVMG\" at 0x1000")
    info1 = int(need(r, out, r"^\$\d+ = (0x[0-9a-f]+)\n\$\d+ = 0x[0-9a-f]+$", "exitinfo1").group(1), 16)
    rip = int(need(r, out, r"^\$\d+ = (0x[0-9a-f]+)\n@@miss", "the guest's rip").group(1), 16)
    want = "ec" if info1 & 1 else "ee"   # IN al,dx / OUT dx,al: the instruction of the exit
    need(r, virt, r"^gva 0x%x: %s$" % (rip, want), "gvirt: the byte at the exit's RIP is the %s "
         "instruction (0x%s)" % ("IN" if info1 & 1 else "OUT", want))
    walk = out.split("@@walk\n", 1)[-1]
    need(r, walk, r"^  PML4\[0\] at gpa 0x[0-9a-f]+ = 0x[0-9a-f]+$", "gwalk: the PML4 entry")
    need(r, walk, r"^  -> a 2 MiB page$", "gwalk: long64.inc maps 2 MiB pages")
    need(r, walk, r"^guest-physical 0x%x$" % rip, "gwalk: identity-mapped, gpa = rip")
    need(r, walk, r"^host-physical 0x[0-9a-f]+$", "gwalk: the nested walk's result")
    need(r, out.split("@@miss\n", 1)[-1], r"guest-physical 0x40000000 is not mapped in the nested page "
         r"table \(nPDPT entry 1 not present\)", "gphys names the missing nested entry")
    r.expect(r"^init: test vmm exited with status 0$")
    r.expect_exit(0)


def lapic_table():
    """guestmem.py's LAPIC_FIELDS (name, offset, size), read from its source."""
    import ast
    src = open(os.path.join(ROOT, "tools", "gdb", "guestmem.py")).read()
    m = re.search(r"^LAPIC_FIELDS = (\[.*?\])", src, re.M | re.S)
    return ast.literal_eval(m.group(1))


@test(points=5, title="gapic shows the guest's local APIC from the VMM process (svmlab in svmlab: "
      "enabled, its timer on vector 0x20); its field table matches struct lapic's DWARF",
      cmdline="test=vmm -k kernel.bin -r svmlab.tar -a svmlab-forktest.cmdline -M 64", cpus=2,
      timeout=120, extra=stub("gapic"))
def guest_apic(r):
    elf = os.path.join(build_dir(r), "initrd", "vmm")
    text = run_gdb(r, [elf, "-ex", "ptype /o struct lapic"])
    dwarf = {m.group(3): (int(m.group(1)), int(m.group(2))) for m in
             re.finditer(r"^/\*\s+(\d+)\s+\|\s+(\d+) \*/\s+[\w ]+?(\w+)(\[\d+\])?;$", text, re.M)}
    for name, off, size in lapic_table():
        r.check(dwarf.get(name) == (off, size), "gapic reads struct lapic's %s at offset %d size %d, the "
                "VMM's DWARF says %s" % (name, off, size, dwarf.get(name)))
    out = run_gdb(r, ex("break vm_proc_exit if vms[0].used", "continue", "echo @@apic\\n", "gapic"),
                  name="gapic")
    no_gdb_errors(r, out)
    apic = out.split("@@apic\n", 1)[-1]
    need(r, apic, r"^lapic of vmm pid \d+: APIC ID 0, software-enabled \(SVR 0x1ff, spurious vector 0xff\)",
         "gapic: the guest kernel enabled its APIC with spurious vector 0xff (kern/lapic.c)")
    # kern/lapic.c: the timer on vector 0x20 (T_IRQ0), divide by 16, one-shot re-armed (or periodic)
    need(r, apic, r"^  timer: (one-shot|periodic), Fixed vector 0x20, unmasked; initial count [1-9]\d*, "
         r"divide by 16, next expiry (at \d+ ns|none), [1-9]\d* expiries$", "gapic: the guest's timer")
    need(r, apic, r"^  IRR: ", "gapic: the requested vectors")
    r.expect(r"^forktest: ok$")
