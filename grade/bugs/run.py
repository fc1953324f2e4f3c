# Lab 4 (run): plausible student mistakes, each of which must lose points
# (tools/bugs.py). Parts: A world switch, B exit decoding and dispatch,
# C completion and re-injection.
R = "kern/svm/run.c"
S = "kern/svm/vmenter.S"

# ---- A: the entry sequence (svm_enter_guest) ------------------------------

bug("sti_before_clgi",
    "sets IF before clearing GIF: a host interrupt can arrive inside the entry sequence",
    edits=[(R, "  clgi();\n  sti();", "  sti();\n  clgi();")],
    tests=["run/entry_order"])

bug("stgi_before_cli",
    "sets GIF again before clearing IF: the host interrupt behind an INTR exit is taken inside "
    "the entry code, with a vcpu loaded",
    edits=[(R, "  cli();\n  stgi();", "  stgi();\n  cli();")],
    tests=["run/entry_order"])

bug("no_sti",
    "never sets IF for VMRUN: host interrupts no longer force INTR exits",
    edits=[(R, "  sti();               // IF=1 for VMRUN; GIF=0 keeps the interrupts pending\n", "")],
    tests=["run/entry_order"])   # run_intr catches it too, but only at its timeout

bug("no_guest_vmsave",
    "forgets the guest's VMSAVE after #VMEXIT: FS/GS/TR/LSTAR the guest loaded are lost",
    edits=[(R, "  vmsave(vmcb_pa);\n", "")],
    tests=["run/run_hostregs", "run/entry_order"])

bug("no_guest_vmload",
    "forgets VMLOAD of the guest: the guest runs with the host's FS/GS/TR/syscall MSRs",
    edits=[(R, "  vmload(vmcb_pa);\n", "")],
    tests=["run/run_hostregs", "run/entry_order"])

bug("no_host_vmload",
    "forgets VMLOAD of the host after the exit: the host continues on the guest's GS and TR",
    edits=[(R, "  vmload(host_pa);\n", "")],
    tests=["run/run_cpuid"])

bug("no_host_vmsave",
    "forgets to VMSAVE the host before entry: the host page holds zeros (or stale state) when "
    "it is VMLOADed after the exit",
    edits=[(R, "  vmsave(host_pa);\n", "")],
    tests=["run/run_cpuid"])

bug("host_vmsave_after_guest_vmload",
    "VMLOADs the guest before VMSAVEing the host: the host save page gets the guest's state",
    edits=[(R, "  vmsave(host_pa);\n  vmload(vmcb_pa);", "  vmload(vmcb_pa);\n  vmsave(host_pa);")],
    tests=["run/run_hostregs", "run/entry_order"])

bug("vmsave_guest_into_host_page",
    "after the exit saves the guest's state into the host page and reloads the host from the VMCB",
    edits=[(R, "  vmsave(vmcb_pa);\n  vmload(host_pa);", "  vmsave(host_pa);\n  vmload(vmcb_pa);")],
    tests=["run/run_cpuid"])

# ---- A: the register switch (vmenter.S) -----------------------------------

bug("r9_not_loaded",
    "forgets to load the guest's R9 before VMRUN",
    edits=[(S, "  mov GPR_R9(%rsi), %r9\n", "")],
    tests=["run/run_gprs"])

bug("rbp_not_saved",
    "forgets to store the guest's RBP after #VMEXIT",
    edits=[(S, "  mov %rbp, GPR_RBP(%rax)\n", "")],
    tests=["run/run_gprs"])

bug("rsi_loaded_first",
    "loads the guest's RSI first, so every later load reads through the guest's RSI",
    edits=[(S, "  mov GPR_RBX(%rsi), %rbx\n", "  mov GPR_RSI(%rsi), %rsi\n  mov GPR_RBX(%rsi), %rbx\n")],
    tests=["run/run_gprs"])

bug("wrong_offset_r10_r11",
    "swaps two offsets: the guest's R10 and R11 trade places on every entry",
    edits=[(S, "  mov GPR_R10(%rsi), %r10\n  mov GPR_R11(%rsi), %r11",
            "  mov GPR_R11(%rsi), %r10\n  mov GPR_R10(%rsi), %r11")],
    tests=["run/run_gprs"])

bug("rbx_rbp_pops_swapped",
    "pops the host's RBX and RBP in the wrong order: the C caller's callee-saved RBX and frame "
    "pointer trade places",
    edits=[(S, "  pop %rbx\n  pop %rbp", "  pop %rbp\n  pop %rbx")],
    tests=["run/run_cpuid", "run/run_gprs"])

bug("r12_not_saved_on_stack",
    "forgets to push/pop the host's R12 (callee-saved): the C caller finds the guest's R12",
    edits=[(S, "  push %r12\n", ""), (S, "  pop %r12\n", "")],
    tests=["run/run_cpuid", "run/run_gprs", "run/run_callee_saved"])

bug("gprs_pointer_from_rsi",
    "after #VMEXIT uses RSI as the gprs pointer: it holds the guest's RSI now",
    edits=[(S, "  mov (%rsp), %rax               # gprs", "  mov %rsi, %rax")],
    tests=["run/run_gprs"])

# ---- B: decoding and dispatch --------------------------------------------

bug("io_port_shift_8",
    "takes the port from bits 23:8 of EXITINFO1 instead of 31:16",
    edits=[(R, "e->u.io.port = info >> 16;", "e->u.io.port = info >> 8;")],
    tests=["run/run_io"])

bug("io_size_sz8_sz16_swapped",
    "reads SZ8 (bit 4) and SZ16 (bit 5) the wrong way round",
    edits=[(R, "e->u.io.size = (info & 0x10) ? 1 : (info & 0x20) ? 2 : 4;",
            "e->u.io.size = (info & 0x20) ? 1 : (info & 0x10) ? 2 : 4;")],
    tests=["run/run_iosize", "run/run_io"])

bug("io_size16_is_4",
    "decodes SZ16 as 4 bytes",
    edits=[(R, "e->u.io.size = (info & 0x10) ? 1 : (info & 0x20) ? 2 : 4;",
            "e->u.io.size = (info & 0x10) ? 1 : 4;")],
    tests=["run/run_iosize"])

bug("io_string_rep_swapped",
    "swaps the STR (bit 2) and REP (bit 3) bits",
    edits=[(R, "e->u.io.string = (info >> 2) & 1;\n  e->u.io.rep = (info >> 3) & 1;",
            "e->u.io.string = (info >> 3) & 1;\n  e->u.io.rep = (info >> 2) & 1;")],
    tests=["run/run_string"])

bug("io_count_ignores_rep",
    "takes the count from RCX even without REP",
    edits=[(R, "e->u.io.count = e->u.io.rep ? (uint32)(v->gprs.rcx & amask) : 1;",
            "e->u.io.count = (uint32)(v->gprs.rcx & amask);")],
    tests=["run/run_io", "run/run_iosize", "run/run_string"])

bug("io_ins_reads_rsi",
    "takes the INS address from rSI (OUTS's) instead of ES:rDI",
    edits=[(R, "e->u.io.gva = e->u.io.in ? string_gva(v, 0, v->gprs.rdi & amask)",
            "e->u.io.gva = e->u.io.in ? string_gva(v, 0, v->gprs.rsi & amask)")],
    tests=["run/run_string", "run/run_diff"])

bug("io_next_rip_fixed_length",
    "assumes every IN/OUT is 2 bytes instead of using EXITINFO2",
    edits=[(R, "  v->next_rip = v->vmcb->control.exitinfo2;", "  v->next_rip = v->vmcb->save.rip + 2;")],
    tests=["run/run_iosize", "run/run_string"])

bug("io_out_data_unmasked",
    "reports all of RAX as the data of an OUT",
    edits=[(R, "e->u.io.data = v->vmcb->save.rax & size_mask(e->u.io.size);",
            "e->u.io.data = v->vmcb->save.rax;")],
    tests=["run/run_iosize"])

bug("dispatch_no_null_check",
    "calls the table entry without checking it: an exit with no handler jumps to 0",
    edits=[(R, "  if (code >= ARRAY_SIZE(svm_exit_handlers) || !svm_exit_handlers[code])",
            "  if (code >= ARRAY_SIZE(svm_exit_handlers))")],
    tests=["run/run_unknown"])

bug("dispatch_invalid_full_compare",
    "compares the exit code with VMEXIT_INVALID on all 64 bits (QEMU writes 0x00000000ffffffff)",
    edits=[(R, "  if (SVM_EXIT_IS_INVALID(code))\n    return invalid_vmcb(v, e);",
            "  if (code == (uint64)-1)\n    return invalid_vmcb(v, e);")],
    tests=["run/run_invalid"])

bug("table_missing_hlt",
    "leaves HLT out of the exit table",
    edits=[(R, "  [SVM_EXIT_HLT] = halt_interception,\n", "")],
    tests=["run/run_cpuid"])

bug("table_missing_shutdown",
    "leaves SHUTDOWN out of the table: a triple fault is reported as an unknown exit and the "
    "vcpu is not marked dead",
    edits=[(R, "  [SVM_EXIT_SHUTDOWN] = shutdown_interception,\n", "")],
    tests=["run/vmm_triple"])

bug("table_missing_vmload",
    "forgets one of the guest's SVM instructions: its VMLOAD reaches the VMM instead of #UD",
    edits=[(R, "  [SVM_EXIT_VMLOAD] = svm_insn_interception,\n", "")],
    tests=["run/vmm_svmins"])

bug("table_missing_npf",
    "leaves NPF out of the table: nested page faults reach the VMM undecoded",
    edits=[(R, "  [SVM_EXIT_NPF] = npf_interception,\n", "")],
    tests=["run/run_restart", "run/vmm_demand"])

bug("table_intr_to_user",
    "sends INTR exits to user space as unknown exits instead of re-entering",
    edits=[(R, "  [SVM_EXIT_INTR] = intr_interception,\n", "")],
    tests=["run/run_intr"])

# ---- C: completion and re-injection --------------------------------------

bug("in_merge_always_al",
    "merges every 8/16-bit IN as if it were 8 bits: a 16-bit IN keeps the old AH",
    edits=[(R, "(rax & ~m) | (u->u.io.data & m)", "(rax & ~0xFFUL) | (u->u.io.data & m)")],
    tests=["run/run_iosize"])

bug("in_data_unmasked",
    "merges IN data without masking it to the operand size: bits beyond AL/AX leak into RAX",
    edits=[(R, "(rax & ~m) | (u->u.io.data & m)", "(rax & ~m) | u->u.io.data")],
    tests=["run/run_iosize"])

bug("out_completed_as_in",
    "completes an OUT like an IN: whatever user space left in the record lands in RAX",
    edits=[(R, "    if (k->u.io.in)   // a 32-bit IN", "    if (1)   // a 32-bit IN")],
    tests=["run/run_iosize"])

bug("rdmsr_rax_not_truncated",
    "RDMSR completion puts the whole 64-bit value into RAX instead of EAX",
    edits=[(R, "      v->vmcb->save.rax = (uint32)u->u.msr.value;", "      v->vmcb->save.rax = u->u.msr.value;")],
    tests=["run/run_rdmsr"])

bug("in32_not_zero_extended",
    "a 32-bit IN keeps RAX's upper half (a CPU zero-extends 32-bit results)",
    edits=[(R, "k->u.io.size == 4 ? (uint32)u->u.io.data : (rax & ~m) | (u->u.io.data & m)",
            "(rax & ~m) | (u->u.io.data & m)")],
    tests=["run/run_iosize"])

bug("string_ignores_df",
    "moves rSI/rDI forward even with DF=1",
    edits=[(R, "  if (v->vmcb->save.rflags & FL_DF)\n    step = -step;\n", "")],
    tests=["run/run_string"])

bug("rep_rcx_not_cleared",
    "leaves RCX at its count after a REP string instruction",
    edits=[(R, "  if (k->u.io.rep)\n    v->gprs.rcx = addr_write(v->gprs.rcx, 0, am);\n", "")],
    tests=["run/run_string"])

bug("string_step_ignores_count",
    "advances rSI/rDI by one element instead of count elements",
    edits=[(R, "int64 step = (int64)k->u.io.size * k->u.io.count;", "int64 step = (int64)k->u.io.size;")],
    tests=["run/run_string", "run/vmm_outs"])

bug("cpuid_ebx_ecx_swapped",
    "writes CPUID's EBX result into RCX and ECX into RBX",
    edits=[(R, "    v->gprs.rbx = u->u.cpuid.ebx;\n    v->gprs.rcx = u->u.cpuid.ecx;",
            "    v->gprs.rbx = u->u.cpuid.ecx;\n    v->gprs.rcx = u->u.cpuid.ebx;")],
    tests=["run/vmm_cpuid"])

bug("rdmsr_high_half_lost",
    "RDMSR completion leaves RDX alone",
    edits=[(R, "      v->gprs.rdx = u->u.msr.value >> 32;\n", "")],
    tests=["run/run_rdmsr", "run/vmm_msr"])

bug("pending_not_cleared",
    "never clears the pending completion: an exit that completes nothing (NPF, INTR) skips "
    "the previous instruction again",
    edits=[(R, "  v->pending = 0;\n  svm_skip_now(v);", "  svm_skip_now(v);")],
    tests=["run/run_restart"])

bug("rip_not_advanced",
    "applies the results but never moves RIP: the guest executes the instruction again",
    edits=[(R, "  v->pending = 0;\n  svm_skip_now(v);", "  v->pending = 0;")],
    tests=["run/run_cpuid"])

bug("skip_later_len_ignored",
    "records RIP itself as the next RIP for CPUID/MSR/VMMCALL/HLT",
    edits=[(R, "    v->next_rip = v->vmcb->save.rip + len;", "    v->next_rip = v->vmcb->save.rip + 2;")],
    tests=["run/run_cpuid"])

bug("exitintinfo_dropped",
    "clears EVENTINJ after every exit but never re-queues EXITINTINFO: the event is lost",
    edits=[(R, "    c->eventinj = c->exitintinfo;\n  // LAB 4 STUB", "  // LAB 4 STUB")],
    tests=["run/run_reinject", "run/run_events"])

bug("eventinj_cleared_after_requeue",
    "re-queues EXITINTINFO, then clears EVENTINJ: the re-queued event is wiped out",
    edits=[(R, "    c->eventinj = c->exitintinfo;\n  // LAB 4 STUB",
            "    c->eventinj = c->exitintinfo;\n  c->eventinj = 0;\n  // LAB 4 STUB")],
    tests=["run/run_reinject", "run/run_events"])

# ---- wrong solutions a grader with fixed, real-mode, zero-base guests passed ----
# (each is caught by the randomized differential ktests or the architectural
# checks of run_exits/run_hsave/run_inside; none is matched by name)

bug("string_gva_no_segment_base",
    "forms the INS/OUTS guest address without the segment base",
    edits=[(R, "  return lm64 ? base + off : (uint32)(base + off);", "  (void)base;\n  return lm64 ? off : (uint32)off;")],
    tests=["run/run_diff"])

bug("outs_from_es",
    "takes OUTS's address from ES (INS's segment) instead of DS or the override",
    edits=[(R, ": string_gva(v, (info >> 10) & 7, v->gprs.rsi & amask);", ": string_gva(v, 0, v->gprs.rsi & amask);")],
    tests=["run/run_diff"])

bug("outs_from_cs",
    "takes OUTS's address from CS",
    edits=[(R, ": string_gva(v, (info >> 10) & 7, v->gprs.rsi & amask);", ": string_gva(v, 1, v->gprs.rsi & amask);")],
    tests=["run/run_diff"])

bug("in32_sign_extended",
    "sign-extends a 32-bit IN into RAX",
    edits=[(R, "k->u.io.size == 4 ? (uint32)u->u.io.data :", "k->u.io.size == 4 ? (uint64)(int64)(int32)u->u.io.data :")],
    tests=["run/run_diff"])

bug("asize_clear_is_16",
    "decodes EXITINFO1 as QEMU leaves it (no address-size bit) and takes that as 16-bit addressing",
    edits=[(R, "  info = svm_ioio_exitinfo1(v);   // with the address size and segment (ioio_assist.c)\n", ""),
           (R, "e->u.io.asize = (info & 0x80) ? 2 : (info & 0x100) ? 4 : 8;",
            "e->u.io.asize = (info & 0x100) ? 4 : (info & 0x200) ? 8 : 2;")],
    tests=["run/run_diff"])

bug("asize_clear_is_64",
    "decodes EXITINFO1 as QEMU leaves it: every string instruction counts and addresses with all 64 bits",
    edits=[(R, "  info = svm_ioio_exitinfo1(v);   // with the address size and segment (ioio_assist.c)\n", "")],
    tests=["run/run_diff"])

bug("cpuid_merges_low32",
    "writes CPUID's results into the low 32 bits of RAX/RBX/RCX/RDX and keeps the upper halves",
    edits=[(R, "    v->vmcb->save.rax = u->u.cpuid.eax;\n    v->gprs.rbx = u->u.cpuid.ebx;\n"
               "    v->gprs.rcx = u->u.cpuid.ecx;\n    v->gprs.rdx = u->u.cpuid.edx;",
            "    v->vmcb->save.rax = (v->vmcb->save.rax & ~0xFFFFFFFFUL) | u->u.cpuid.eax;\n"
            "    v->gprs.rbx = (v->gprs.rbx & ~0xFFFFFFFFUL) | u->u.cpuid.ebx;\n"
            "    v->gprs.rcx = (v->gprs.rcx & ~0xFFFFFFFFUL) | u->u.cpuid.ecx;\n"
            "    v->gprs.rdx = (v->gprs.rdx & ~0xFFFFFFFFUL) | u->u.cpuid.edx;")],
    tests=["run/run_diff"])

bug("rdmsr_merges_rdx",
    "merges RDMSR's high half into EDX and keeps RDX's upper half",
    edits=[(R, "      v->gprs.rdx = u->u.msr.value >> 32;",
            "      v->gprs.rdx = (v->gprs.rdx & ~0xFFFFFFFFUL) | (u->u.msr.value >> 32);")],
    tests=["run/run_diff"])

bug("rdmsr_completion_after_wrmsr",
    "applies the RDMSR completion after a WRMSR too: EDX:EAX take whatever the record holds",
    edits=[(R, "    if (!v->last.u.msr.write) {", "    if (1) {")],
    tests=["run/run_diff"])

bug("vmmcall_ret_truncated",
    "truncates VMMCALL's 64-bit return value to 32 bits",
    edits=[(R, "    v->vmcb->save.rax = u->u.hypercall.ret;", "    v->vmcb->save.rax = (uint32)u->u.hypercall.ret;")],
    tests=["run/run_diff"])

bug("rip_set_shadow_kept",
    "moves RIP past the completed instruction directly and leaves the interrupt shadow it was in",
    edits=[(R, "  v->pending = 0;\n  svm_skip_now(v);\n  // LAB 4 STUB",
            "  v->pending = 0;\n  v->vmcb->save.rip = v->next_rip;\n  // LAB 4 STUB")],
    tests=["run/run_inside"])

bug("complete_io_from_user_record",
    "completes I/O from the record user space passed back instead of the kernel's copy of the exit",
    edits=[(R, "  const struct vm_exit *k = &v->last;   // the kernel's copy: user space may scribble on *u",
            "  const struct vm_exit *k = u;")],
    tests=["run/run_diff"])

bug("reinject_vector_type_only",
    "re-injects only the vector and type of EXITINTINFO: the error code and its EV bit are dropped",
    edits=[(R, "    c->eventinj = c->exitintinfo;\n  // LAB 4 STUB",
            "    c->eventinj = SVM_EVTINJ_VALID | (c->exitintinfo & (SVM_EVTINJ_TYPE_MASK | SVM_EVTINJ_VEC_MASK));\n"
            "  // LAB 4 STUB")],
    tests=["run/run_events"])

bug("reinject_as_external_interrupt",
    "re-injects every interrupted event as an external interrupt of its vector",
    edits=[(R, "    c->eventinj = c->exitintinfo;\n  // LAB 4 STUB",
            "    c->eventinj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_INTR | (c->exitintinfo & SVM_EVTINJ_VEC_MASK);\n"
            "  // LAB 4 STUB")],
    tests=["run/run_events"])

# Not listed: "never clears EVENTINJ after an exit". QEMU 7.2's #VMEXIT clears
# EVENTINJ itself (an event it delivered, or one it moved to EXITINTINFO), so
# the kernel's own clearing cannot be told apart from none on this CPU model.

bug("soft_interrupt_reinjected",
    "re-injects an interrupted INT n/INT3/INTO too: the return address is the INT instruction, which runs twice",
    edits=[(R, "  if ((c->exitintinfo & SVM_EVTINJ_VALID) && (c->exitintinfo & SVM_EVTINJ_TYPE_MASK) != SVM_EVTINJ_TYPE_SOFT)",
            "  if (c->exitintinfo & SVM_EVTINJ_VALID)")],
    tests=["run/run_events"])

bug("table_no_exceptions",
    "leaves the exception exits out of the table",
    edits=[(R, "  EXCP(0), EXCP(1), EXCP(3), EXCP(4), EXCP(5), EXCP(6), EXCP(7), EXCP(8), EXCP(10), EXCP(11),\n"
               "  EXCP(12), EXCP(13), EXCP(14), EXCP(16), EXCP(17), EXCP(18), EXCP(19),\n", "")],
    tests=["run/run_exits"])

for name, entry in (("write_cr0", "  [SVM_EXIT_WRITE_CR0] = cr0_write_interception,\n"),
                    ("write_cr8", "  [SVM_EXIT_WRITE_CR8] = cr8_write_interception,\n"),
                    ("xsetbv", "  [SVM_EXIT_XSETBV] = xsetbv_interception,\n"),
                    ("nmi", "  [SVM_EXIT_NMI] = nmi_interception,\n"),
                    ("vmrun", "  [SVM_EXIT_VMRUN] = svm_insn_interception,\n"),
                    ("vmsave", "  [SVM_EXIT_VMSAVE] = svm_insn_interception,\n"),
                    ("stgi", "  [SVM_EXIT_STGI] = svm_insn_interception,\n"),
                    ("skinit", "  [SVM_EXIT_SKINIT] = svm_insn_interception,\n"),
                    ("invlpga", "  [SVM_EXIT_INVLPGA] = svm_insn_interception,\n")):
    bug("table_missing_" + name, "leaves %s out of the exit table" % name.upper(),
        edits=[(R, entry, "")],
        tests={"write_cr0": ["run/vmm_hostile_lmexit"], "write_cr8": ["run/vmm_hostile_cr8"]}.get(
            name, ["run/run_exits"]))

bug("dispatch_no_bounds_check",
    "indexes the exit table with any exit code",
    edits=[(R, "  if (code >= ARRAY_SIZE(svm_exit_handlers) || !svm_exit_handlers[code])",
            "  if (!svm_exit_handlers[code])")],
    tests=["run/run_exits"])

bug("dispatch_bound_off_by_one",
    "bounds-checks the exit code with > instead of >=",
    edits=[(R, "  if (code >= ARRAY_SIZE(svm_exit_handlers) || !svm_exit_handlers[code])",
            "  if (code > ARRAY_SIZE(svm_exit_handlers) || !svm_exit_handlers[code])")],
    tests=["run/run_exits"])

bug("host_vmsave_in_hsave_page",
    "keeps the host's VMSAVE state in the VM_HSAVE_PA page, which belongs to the CPU",
    edits=[(R, "host_pa = V2P(host_save[cpu]);",
            "host_pa = V2P(svm_data[cpu].save_area) + 0 * (uint64)host_save[0];")],
    tests=["run/run_hsave"])

bug("guest_state_loaded_never_set",
    "never sets v->guest_state_loaded while the guest's VMLOAD state is in the CPU",
    edits=[(R, "  v->guest_state_loaded = 1;\n", "")],
    tests=["run/run_inside"])

bug("gprs_pointer_not_at_rsp",
    "keeps the gprs pointer deeper in the frame than the header says (pushed before the host's registers)",
    edits=[(S, "svm_vmrun_regs:\n# LAB 4 BEGIN\n  push %rbp\n", "svm_vmrun_regs:\n# LAB 4 BEGIN\n  push %rsi\n  push %rbp\n"),
           (S, "  push %r15\n  push %rsi                      # gprs, needed again after #VMEXIT\n",
            "  push %r15\n  sub $8, %rsp\n"),
           (S, "  mov (%rsp), %rax               # gprs", "  mov 56(%rsp), %rax"),
           (S, "  pop %rbx\n  pop %rbp\n  ret", "  pop %rbx\n  pop %rbp\n  add $8, %rsp\n  ret")],
    tests=["run/run_inside"])

# A correct variant regrades only the tests that reach the code it changes (the
# whole lab took about 10 s a variant): the world switch, the exit handlers, REP
# string I/O, re-injection.
SWITCH_TESTS = ["run/entry_order", "run/run_gprs", "run/run_callee_saved", "run/run_hostregs", "run/run_intr",
                "run/run_hsave", "run/run_inside", "run/run_events", "run/run_diff", "run/vmm_spin",
                "run/vmm_two_one_cpu", "run/vmm_two_two_cpus", "run/vmm_migrate", "run/vmm_long64"]
EXIT_TESTS = ["run/run_io", "run/run_iosize", "run/run_string", "run/run_cpuid", "run/run_rdmsr", "run/run_exits",
              "run/run_svmins", "run/run_diff", "run/vmm_cpuid", "run/vmm_msr", "run/vmm_vmmcall", "run/vmm_outs",
              "run/vmm_sysregs", "run/vmm_prot32"]
STRING_TESTS = ["run/run_string", "run/run_io", "run/run_iosize", "run/run_diff", "run/vmm_outs"]
EVENT_TESTS = ["run/run_reinject", "run/run_events", "run/run_diff", "run/vmm_inject", "run/vmm_demand",
               "run/vmm_virq", "run/run_restart"]

# ---- correct variants: each must keep full marks (tools/bugs.py grades the whole lab) ----

variant("kvm_cli_before_host_vmload",
        "KVM's order after the exit: CLI while GIF=0, before the host's VMLOAD",
        edits=[(R, "  vmsave(vmcb_pa);\n  vmload(host_pa);\n  v->guest_state_loaded = 0;\n  cli();\n  stgi();",
                "  vmsave(vmcb_pa);\n  cli();\n  vmload(host_pa);\n  v->guest_state_loaded = 0;\n  stgi();")],
        tests=SWITCH_TESTS)

variant("sti_vmrun_cli_in_vmenter",
        "`sti; vmrun; cli` inside vmenter.S, the C code only does CLGI/STGI and VMSAVE/VMLOAD",
        edits=[(R, "  sti();               // IF=1 for VMRUN; GIF=0 keeps the interrupts pending\n", ""),
               (R, "  v->guest_state_loaded = 0;\n  cli();\n  stgi();", "  v->guest_state_loaded = 0;\n  stgi();"),
               (S, "  vmrun %rax\n", "  sti\n  vmrun %rax\n  cli\n")],
        tests=SWITCH_TESTS)

variant("kvm_host_vmsave_before_clgi",
        "KVM saves the host's VMSAVE state before CLGI (svm_prepare_switch_to_guest), with IF=0",
        edits=[(R, "  clgi();\n  sti();               // IF=1 for VMRUN; GIF=0 keeps the interrupts pending\n"
                   "  vmsave(host_pa);\n",
                "  vmsave(host_pa);\n  clgi();\n  sti();\n")],
        tests=SWITCH_TESTS)

variant("sti_just_before_vmrun",
        "sets IF after both VMSAVE/VMLOAD, right before the call (GIF=0 all along)",
        edits=[(R, "  clgi();\n  sti();               // IF=1 for VMRUN; GIF=0 keeps the interrupts pending\n"
                   "  vmsave(host_pa);\n  vmload(vmcb_pa);\n",
                "  clgi();\n  vmsave(host_pa);\n  vmload(vmcb_pa);\n  sti();\n")],
        tests=SWITCH_TESTS)

variant("next_rip_never_used",
        "ignores next_rip (NRIPS) and always advances by the known length, as KVM does without NRIPS",
        edits=[(R, "  if (svm_has(SVM_FEAT_NRIPS) && v->vmcb->control.next_rip)\n    v->next_rip = v->vmcb->control.next_rip;\n"
                   "  else\n    v->next_rip = v->vmcb->save.rip + len;",
                "  v->next_rip = v->vmcb->save.rip + len;")],
        tests=EXIT_TESTS)

variant("rep_rcx_minus_count",
        "after REP string I/O, subtracts the count from rCX under the address size instead of zeroing it",
        edits=[(R, "    v->gprs.rcx = addr_write(v->gprs.rcx, 0, am);",
                "    v->gprs.rcx = addr_write(v->gprs.rcx, v->gprs.rcx - k->u.io.count, am);")],
        tests=STRING_TESTS)

variant("eventinj_rebuilt_by_fields",
        "rebuilds EVENTINJ from EXITINTINFO's fields (vector, type, EV, V, error code) one by one",
        edits=[(R, "    c->eventinj = c->exitintinfo;\n  // LAB 4 STUB",
                "    c->eventinj = (c->exitintinfo & SVM_EVTINJ_VEC_MASK) | (c->exitintinfo & SVM_EVTINJ_TYPE_MASK) |\n"
                "                  (c->exitintinfo & SVM_EVTINJ_VALID_ERR) | SVM_EVTINJ_VALID |\n"
                "                  (c->exitintinfo >> SVM_EVTINJ_ERR_SHIFT << SVM_EVTINJ_ERR_SHIFT);\n"
                "  // LAB 4 STUB")],
        tests=EVENT_TESTS)

# ---- found by a fresh-eyes trial ----------------------------------------------------
bug("string_gva_compat_as_64", "treats compatibility mode (LMA=1, CS.L=0) as 64-bit mode: no DS/ES/SS bases, "
    "no 4 GiB wrap for an INS/OUTS there",
    edits=[(R, "int lm64 = (s->efer & EFER_LMA) && (s->cs.attrib & SEG_ATTR_L);", "int lm64 = (s->efer & EFER_LMA) != 0;")],
    tests=["run/run_diff"])
bug("string_gva_real_selector_times_16", "in real mode takes an INS/OUTS segment's base as selector * 16, not its "
    "hidden base (they differ after a return from protected mode without a reload)",
    edits=[(R, "  uint64 base = seg > 5 || (lm64 && seg < 4) ? 0 : segs[seg]->base;",
            "  uint64 base = seg > 5 || (lm64 && seg < 4) ? 0 : segs[seg]->base;\n"
            "  if (!(s->cr0 & CR0_PE) && seg <= 5)\n    base = (uint64)segs[seg]->selector << 4;")],
    tests=["run/run_diff"])
