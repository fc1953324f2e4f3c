# Bug catalogue of lab 3 (vcpu): plausible student mistakes in kern/svm/vcpu.c's
# solution regions, each of which must lose points (tools/bugs.py).
from bugs import bug, variant

V = "kern/svm/vcpu.c"

# ---- Part A: ASIDs ----------------------------------------------------------------
bug("asid_wrap_off_by_one",
    "the wrap test uses >=, so the last ASID (15 under QEMU) is never handed out",
    edits=[(V, "if (sd->next_asid > sd->max_asid) {", "if (sd->next_asid >= sd->max_asid) {")],
    tests=["vcpu/asid_in_order", "vcpu/asid_wrap"])
bug("wrap_after_handing_out",
    "the wrap test runs after the ASID is handed out: the last ASID's generation ends at once",
    edits=[(V, "  if (sd->next_asid > sd->max_asid) {\n    sd->asid_generation++;\n    sd->next_asid = sd->min_asid;\n  }\n"
               "  v->current_vmcb->asid_generation = sd->asid_generation;\n  v->asid = sd->next_asid++;\n",
            "  v->current_vmcb->asid_generation = sd->asid_generation;\n  v->asid = sd->next_asid++;\n"
            "  int reused = sd->asid_generation > 1;\n"
            "  if (sd->next_asid > sd->max_asid) {\n    sd->asid_generation++;\n    sd->next_asid = sd->min_asid;\n  }\n"),
           (V, "  if (sd->asid_generation > 1)\n    v->vmcb->control.tlb_control =", "  if (reused)\n    v->vmcb->control.tlb_control =")],
    tests=["vcpu/asid_in_order"])
bug("flush_non_global_only",
    "with FlushByAsid, TLB_CONTROL asks for the guest's non-global entries only (7): global pages survive",
    edits=[(V, "svm_has(SVM_FEAT_FLUSHASID) ? TLB_CONTROL_FLUSH_ASID : TLB_CONTROL_FLUSH_ALL;",
            "svm_has(SVM_FEAT_FLUSHASID) ? TLB_CONTROL_FLUSH_ASID_NG : TLB_CONTROL_FLUSH_ALL;")],
    tests=["vcpu/asid_flush_by_asid"])
bug("flush_in_generation_1",
    "a flush is requested in generation 1 too, where every ASID is fresh",
    edits=[(V, "if (sd->asid_generation > 1)", "if (sd->asid_generation >= 1)")],
    tests=["vcpu/asid_gen1_noflush"])
bug("vmcb_asid_never_set",
    "vcpu_new_asid records the ASID in v->asid only, never in the VMCB's control.asid",
    edits=[(V, "    v->vmcb->control.asid = v->asid;\n", "")],
    tests=["vcpu/asid_in_vmcb", "vcpu/asid_unique"])
bug("wrap_keeps_next_asid",
    "a new generation does not go back to min_asid",
    edits=[(V, "    sd->asid_generation++;\n    sd->next_asid = sd->min_asid;\n", "    sd->asid_generation++;\n")],
    tests=["vcpu/asid_new_generation", "vcpu/asid_wrap"])
bug("wrap_keeps_generation",
    "running out of ASIDs starts over at min_asid without a new generation",
    edits=[(V, "    sd->asid_generation++;\n    sd->next_asid", "    sd->next_asid")],
    tests=["vcpu/asid_new_generation", "vcpu/asid_wrap"])
bug("generation_not_recorded",
    "the vcpu's VMCB does not remember the generation of its ASID, so every load takes a new one",
    edits=[(V, "  v->current_vmcb->asid_generation = sd->asid_generation;\n", "")],
    tests=["vcpu/asid_new_generation", "vcpu/migrate_stay"])
bug("next_asid_not_advanced",
    "every vcpu gets the same next_asid: it is never incremented",
    edits=[(V, "v->asid = sd->next_asid++;", "v->asid = sd->next_asid;")],
    tests=["vcpu/asid_in_order", "vcpu/asid_unique"])
bug("no_flush_after_wrap",
    "an ASID handed out again never asks for a TLB flush",
    edits=[(V, "  if (sd->asid_generation > 1)\n    v->vmcb->control.tlb_control =", "  if (0)\n    v->vmcb->control.tlb_control =")],
    tests=["vcpu/asid_new_generation", "vcpu/asid_wrap"])
bug("flush_only_at_the_wrap",
    "only the vcpu whose load started the generation asks for a flush, of its own ASID where the CPU has "
    "FlushByAsid: the other reused ASIDs keep their old owners' entries",
    edits=[(V, "  if (sd->next_asid > sd->max_asid) {\n    sd->asid_generation++;",
            "  int wrapped = sd->next_asid > sd->max_asid;\n  if (wrapped) {\n    sd->asid_generation++;"),
           (V, "  if (sd->asid_generation > 1)\n", "  if (wrapped)\n")],
    tests=["vcpu/asid_flush_by_asid", "vcpu/random_schedules"])
bug("flush_by_asid_always",
    "TLB_CONTROL asks for flush-by-ASID without checking that CPUID offers it",
    edits=[(V, "svm_has(SVM_FEAT_FLUSHASID) ? TLB_CONTROL_FLUSH_ASID : TLB_CONTROL_FLUSH_ALL;",
            "TLB_CONTROL_FLUSH_ASID;")],
    tests=["vcpu/asid_new_generation", "vcpu/asid_flush_by_asid"])
bug("flush_all_always",
    "TLB_CONTROL always flushes every ASID, even when the CPU can flush just one",
    edits=[(V, "svm_has(SVM_FEAT_FLUSHASID) ? TLB_CONTROL_FLUSH_ASID : TLB_CONTROL_FLUSH_ALL;",
            "TLB_CONTROL_FLUSH_ALL;")],
    tests=["vcpu/asid_flush_by_asid"])
bug("asid_clean_bit_not_cleared",
    "a new ASID goes into the VMCB but its clean bit stays set",
    edits=[(V, "    vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_ASID);\n", "")],
    tests=["vcpu/asid_old_generation"])
bug("asid_marks_all_dirty",
    "a new ASID marks the whole VMCB dirty instead of the ASID group",
    edits=[(V, "    vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_ASID);\n", "    vmcb_mark_all_dirty(v->vmcb);\n")],
    tests=["vcpu/asid_old_generation"])
bug("asid_range_from_0",
    "the range starts at ASID 0, which is the host's",
    edits=[(V, "  sd->min_asid = 1;\n", "  sd->min_asid = 0;\n")],
    tests=["vcpu/asid_range", "vcpu/asid_in_order"])
bug("asid_range_to_nasids",
    "max_asid is the number of ASIDs, one beyond the last",
    edits=[(V, "  sd->max_asid = svm_features.nasids - 1;\n", "  sd->max_asid = svm_features.nasids;\n")],
    tests=["vcpu/asid_range", "vcpu/asid_wrap"])
bug("asid_init_every_time",
    "svm_asid_init starts the range over on every call, not only the first",
    edits=[(V, "  if (sd->asid_generation)\n    return;\n  // ASID 0", "  // ASID 0")],
    tests=["vcpu/asid_in_order", "vcpu/asid_unique"])
bug("flush_tlb_flushes_all",
    "vcpu_flush_tlb without FlushByAsid flushes every ASID instead of taking a fresh one",
    edits=[(V, "  v->current_vmcb->asid_generation = 0;\n  // LAB 3 STUB",
            "  v->vmcb->control.tlb_control = TLB_CONTROL_FLUSH_ALL;\n  // LAB 3 STUB")],
    tests=["vcpu/flush_tlb"])
bug("flush_tlb_new_asid_here",
    "vcpu_flush_tlb hands out a new ASID at once, from the CPU it runs on, not the vcpu's",
    edits=[(V, "  v->current_vmcb->asid_generation = 0;\n  // LAB 3 STUB",
            "  vcpu_new_asid(v, svm_cpu_self());\n  // LAB 3 STUB")],
    tests=["vcpu/flush_tlb"])
bug("flush_tlb_ignores_cpuid",
    "vcpu_flush_tlb always asks for flush-by-ASID",
    edits=[(V, "  if (svm_has(SVM_FEAT_FLUSHASID)) {\n    v->vmcb->control.tlb_control = TLB_CONTROL_FLUSH_ASID;",
            "  if (1) {\n    v->vmcb->control.tlb_control = TLB_CONTROL_FLUSH_ASID;")],
    tests=["vcpu/flush_tlb"])

# ---- Part B: loading --------------------------------------------------------------
bug("alloc_leaves_cpu_0",
    "a new vcpu is not marked as loaded nowhere: it looks loaded on cpu0",
    edits=[(V, "  v->vmcb01.asid_generation = 0;\n  v->cpu = -1;\n", "  v->vmcb01.asid_generation = 0;\n")],
    tests=["vcpu/load_put", "vcpu/current"])
bug("load_with_interrupts_on",
    "vcpu_load does not refuse a caller with interrupts on, who may be moved to another CPU before VMRUN",
    edits=[(V, "  if ((rflags() & FL_IF) || cpu != cpuid_self())", "  if (cpu != cpuid_self())")],
    tests=["vcpu/load_errors"])
bug("load_without_asid_init",
    "vcpu_load compares generations before the CPU's ASIDs are set up (both 0): no ASID at all",
    edits=[(V, "  struct svm_cpu_data *sd = &svm_data[cpu];\n  svm_asid_init(sd);\n",
            "  struct svm_cpu_data *sd = &svm_data[cpu];\n")],
    tests=["vcpu/asid_range", "vcpu/asid_in_vmcb"])
bug("move_test_on_loaded_cpu",
    "the move test looks at v->cpu (always -1 after vcpu_put) instead of where the VMCB last ran",
    edits=[(V, "  if (info->cpu != cpu) {", "  if (v->cpu != cpu) {")],
    tests=["vcpu/migrate_stay"])
bug("first_load_counts_as_move",
    "a vcpu that never ran counts a move at its first load",
    edits=[(V, "    if (info->cpu >= 0)\n      v->moves++;", "    v->moves++;")],
    tests=["vcpu/load_put", "vcpu/migrate_move"])
bug("move_keeps_generation",
    "a moved vcpu keeps its generation, so it keeps the old CPU's ASID when the numbers match",
    edits=[(V, "    info->asid_generation = 0;   // its ASID belongs to the old CPU\n", "")],
    tests=["vcpu/migrate_move"])
bug("moves_never_counted",
    "a move is handled but never counted in v->moves",
    edits=[(V, "    if (info->cpu >= 0)\n      v->moves++;\n", "")],
    tests=["vcpu/migrate_move"])
bug("move_not_all_dirty",
    "a VMCB new to this CPU is not marked all dirty",
    edits=[(V, "    vmcb_mark_all_dirty(v->vmcb);\n    info->cpu = cpu;", "    info->cpu = cpu;")],
    tests=["vcpu/migrate_move", "vcpu/load_put"])
bug("move_cpu_not_recorded",
    "the CPU the VMCB now runs on is never recorded, so every load is a move",
    edits=[(V, "    vmcb_mark_all_dirty(v->vmcb);\n    info->cpu = cpu;", "    vmcb_mark_all_dirty(v->vmcb);")],
    tests=["vcpu/migrate_stay"])
bug("generation_check_before_move",
    "the generation is compared before the move is handled: a moved vcpu runs with the old CPU's ASID",
    edits=[(V, "  struct vmcb_info *info = v->current_vmcb;\n",
            "  struct vmcb_info *info = v->current_vmcb;\n  int stale = info->asid_generation != sd->asid_generation;\n"),
           (V, "  if (info->asid_generation != sd->asid_generation)\n    vcpu_new_asid", "  if (stale)\n    vcpu_new_asid")],
    tests=["vcpu/migrate_move"])
bug("current_vmcb_not_set",
    "vcpu_load never makes the VMCB the CPU's current one",
    edits=[(V, "  sd->current_vmcb = v->vmcb;\n", "")],
    tests=["vcpu/current", "vcpu/load_put"])
bug("load_cancels_flush",
    "vcpu_load resets TLB_CONTROL, cancelling a flush requested since the last run",
    edits=[(V, "  sd->current_vmcb = v->vmcb;\n  v->cpu = cpu;", "  if (info->asid_generation == sd->asid_generation)\n"
               "    v->vmcb->control.tlb_control = TLB_CONTROL_DO_NOTHING;\n  sd->current_vmcb = v->vmcb;\n  v->cpu = cpu;")],
    tests=["vcpu/flush_tlb"])
bug("put_forgets_last_cpu",
    "vcpu_put also forgets the CPU the VMCB last ran on, so every load takes a new ASID and drops the cache",
    edits=[(V, "  v->cpu = -1;\n  v->guest_state_loaded = 0;", "  v->cpu = -1;\n  v->current_vmcb->cpu = -1;\n  v->guest_state_loaded = 0;")],
    tests=["vcpu/migrate_stay"])
bug("put_from_any_cpu",
    "vcpu_put does not check that v is loaded on this CPU",
    edits=[(V, "  if (v->cpu < 0 || v->cpu != cpuid_self())\n    return -EINVAL;\n  v->cpu = -1;", "  v->cpu = -1;")],
    tests=["vcpu/load_errors"])
bug("no_ebusy",
    "a vcpu loaded on one CPU can be loaded on a second one at the same time",
    edits=[(V, "  if (v->cpu >= 0 && v->cpu != cpu)\n    return -EBUSY;\n", "")],
    tests=["vcpu/load_errors"])
bug("no_einval",
    "vcpu_load trusts its cpu argument, and edits another CPU's data",
    edits=[(V, "  if ((rflags() & FL_IF) || cpu != cpuid_self())", "  if (rflags() & FL_IF)")],
    tests=["vcpu/load_errors"])
bug("put_keeps_cpu",
    "vcpu_put leaves v->cpu set",
    edits=[(V, "  v->cpu = -1;\n  v->guest_state_loaded = 0;", "  v->guest_state_loaded = 0;")],
    tests=["vcpu/current", "vcpu/load_put"])
bug("put_keeps_guest_state",
    "vcpu_put does not note that the guest state is no longer loaded",
    edits=[(V, "  v->cpu = -1;\n  v->guest_state_loaded = 0;", "  v->cpu = -1;")],
    tests=["vcpu/load_put"])
bug("put_clears_current_vmcb",
    "vcpu_put also clears the CPU's current_vmcb (KVM keeps it)",
    edits=[(V, "  v->cpu = -1;\n  v->guest_state_loaded = 0;",
            "  svm_data[v->cpu].current_vmcb = NULL;\n  v->cpu = -1;\n  v->guest_state_loaded = 0;")],
    tests=["vcpu/current", "vcpu/load_put"])
bug("free_clears_every_cpu",
    "vcpu_free clears every CPU's current_vmcb, also those naming another vcpu's VMCB",
    edits=[(V, "    __atomic_compare_exchange_n(&svm_data[i].current_vmcb, &(struct vmcb *){vmcb}, NULL, 0,\n"
               "                                __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);",
            "    svm_data[i].current_vmcb = NULL;")],
    tests=["vcpu/free_clears"])
bug("free_clears_this_cpu_only",
    "vcpu_free clears only the current_vmcb of the CPU it runs on",
    edits=[(V, "  for (int i = 0; i < ncpu; i++)\n    __atomic_compare_exchange_n(&svm_data[i]",
            "  for (int i = cpuid_self(); i == cpuid_self(); i++)\n    __atomic_compare_exchange_n(&svm_data[i]")],
    tests=["vcpu/free_clears"])

# ---- Part C: clean bits -----------------------------------------------------------
bug("efer_not_in_cr_group",
    "an EFER change leaves the CR clean bit set",
    edits=[(V, " ||\n      old->efer != now->efer)", ")")],
    tests=["vcpu/clean_marked"])
bug("cr2_in_cr_group",
    "CR2 is treated as part of the CR group instead of having its own bit",
    edits=[(V, "old->cr4 != now->cr4 ||", "old->cr4 != now->cr4 || old->cr2 != now->cr2 ||"),
           (V, "  if (old->cr2 != now->cr2)\n    vmcb_mark_dirty(vmcb, VMCB_CLEAN_CR2);\n", "")],
    tests=["vcpu/clean_marked", "vcpu/clean_only"])
bug("ss_not_in_seg_group",
    "SS is left out of the SEG group",
    edits=[(V, " ||\n      seg_changed(&old->es, &now->es) || seg_changed(&old->ss, &now->ss))",
            " ||\n      seg_changed(&old->es, &now->es))")],
    tests=["vcpu/clean_marked"])
bug("fs_gs_in_seg_group",
    "FS and GS are counted in the SEG group (VMLOAD loads them, VMRUN does not cache them)",
    edits=[(V, "seg_changed(&old->ss, &now->ss))", "seg_changed(&old->ss, &now->ss) ||\n"
               "      seg_changed(&old->fs, &now->fs) || seg_changed(&old->gs, &now->gs))")],
    tests=["vcpu/clean_only"])
bug("ldtr_in_dt_group",
    "LDTR is counted with GDTR and IDTR",
    edits=[(V, "seg_changed(&old->idtr, &now->idtr))", "seg_changed(&old->idtr, &now->idtr) ||\n"
               "      seg_changed(&old->ldtr, &now->ldtr))")],
    tests=["vcpu/clean_only"])
bug("segment_compare_selector_only",
    "a segment counts as changed only when its selector does (base, limit, attributes ignored)",
    edits=[(V, "  return a->sel != b->sel || a->attr != b->attr || a->limit != b->limit || a->base != b->base;",
            "  return a->sel != b->sel;")],
    tests=["vcpu/clean_marked"])
bug("dt_compare_base_only",
    "GDTR and IDTR count as changed only when their base does (a new limit is missed)",
    edits=[(V, "  if (seg_changed(&old->gdtr, &now->gdtr) || seg_changed(&old->idtr, &now->idtr))",
            "  if (old->gdtr.base != now->gdtr.base || old->idtr.base != now->idtr.base)")],
    tests=["vcpu/clean_marked"])
bug("regs_mark_all_dirty",
    "any register write marks the whole VMCB dirty",
    edits=[(V, "  struct vmcb *vmcb = v->vmcb;\n  // GPRs", "  struct vmcb *vmcb = v->vmcb;\n  vmcb_mark_all_dirty(vmcb);\n  // GPRs")],
    tests=["vcpu/clean_only"])
bug("rip_marks_seg",
    "an RIP change is taken for a CS change",
    edits=[(V, "  if (seg_changed(&old->cs, &now->cs) ||", "  if (old->rip != now->rip || seg_changed(&old->cs, &now->cs) ||")],
    tests=["vcpu/clean_only"])

bug("free_keeps_current_vmcb", "vcpu_free frees the VMCB while a CPU still names it as its current one",
    edits=[("kern/svm/vcpu.c", "  // LAB 3 BEGIN\n  svm_clear_current_vmcb(v->vmcb);\n  vmcb_destroy(v);",
            "  // LAB 3 BEGIN\n  (void)svm_clear_current_vmcb;\n  vmcb_destroy(v);")], tests=["vcpu/free_clears"])

# ---- caught by the randomized schedules (vcpu_random) and by no fixed case ---------
bug("same_asid_no_flush",
    "a reused ASID is flushed only when its number differs from the vcpu's previous one (as if the "
    "entries under that number were surely the vcpu's own)",
    edits=[(V, "  v->current_vmcb->asid_generation = sd->asid_generation;\n  v->asid = sd->next_asid++;\n",
            "  uint32 old_asid = v->vmcb->control.asid;\n"
            "  v->current_vmcb->asid_generation = sd->asid_generation;\n  v->asid = sd->next_asid++;\n"),
           (V, "  if (sd->asid_generation > 1)\n    v->vmcb->control.tlb_control =",
            "  if (sd->asid_generation > 1 && old_asid != v->asid)\n    v->vmcb->control.tlb_control =")],
    tests=["vcpu/random_schedules"])

# A correct variant regrades only the tests that reach the code it changes (the
# whole lab took about 7 s a variant): loading and putting, or the ASIDs.
LOAD_TESTS = ["vcpu/current", "vcpu/free_clears", "vcpu/load_put", "vcpu/load_errors", "vcpu/migrate_stay",
              "vcpu/migrate_move", "vcpu/clean_marked", "vcpu/clean_only", "vcpu/random_schedules"]
ASID_TESTS = ["vcpu/asid_range", "vcpu/asid_in_order", "vcpu/asid_in_vmcb", "vcpu/asid_gen1_noflush",
              "vcpu/asid_new_generation", "vcpu/asid_old_generation", "vcpu/asid_flush_by_asid", "vcpu/asid_wrap",
              "vcpu/asid_unique", "vcpu/flush_tlb", "vcpu/clean_marked", "vcpu/migrate_move", "vcpu/random_schedules"]

# ---- correct variants: other orders and KVM's choices; each keeps every point ------
variant("clean_zero_directly",
        "a move clears the clean field directly (clean = 0) instead of vmcb_mark_all_dirty",
        edits=[(V, "    vmcb_mark_all_dirty(v->vmcb);\n    info->cpu = cpu;", "    v->vmcb->control.clean = 0;\n    info->cpu = cpu;")],
        tests=LOAD_TESTS)
variant("kvm_asid_always_dirty",
        "KVM's new_asid: the ASID clean bit is cleared whenever an ASID is handed out, even the same number",
        edits=[(V, "  if (v->vmcb->control.asid != v->asid) {\n    v->vmcb->control.asid = v->asid;\n"
                   "    vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_ASID);\n  }\n",
                "  v->vmcb->control.asid = v->asid;\n  vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_ASID);\n")],
        tests=ASID_TESTS)
variant("kvm_flush_generation_decrement",
        "KVM's svm_flush_tlb_asid without FlushByAsid: asid_generation-- (any value but the CPU's forces a new ASID)",
        edits=[(V, "  v->current_vmcb->asid_generation = 0;\n  // LAB 3 STUB", "  v->current_vmcb->asid_generation--;\n  // LAB 3 STUB")],
        tests=ASID_TESTS)
variant("current_vmcb_first",
        "vcpu_load names the VMCB current on this CPU before the move and ASID bookkeeping",
        edits=[(V, "  svm_asid_init(sd);\n  struct vmcb_info *info = v->current_vmcb;\n",
                "  svm_asid_init(sd);\n  sd->current_vmcb = v->vmcb;\n  struct vmcb_info *info = v->current_vmcb;\n"),
               (V, "    vcpu_new_asid(v, sd);\n  sd->current_vmcb = v->vmcb;\n", "    vcpu_new_asid(v, sd);\n")],
        tests=LOAD_TESTS)
variant("asid_init_keyed_on_max",
        "svm_asid_init recognises a set-up CPU by its max_asid instead of its generation",
        edits=[(V, "  if (sd->asid_generation)\n    return;\n  // ASID 0", "  if (sd->max_asid)\n    return;\n  // ASID 0")],
        tests=ASID_TESTS)
variant("put_order_swapped",
        "vcpu_put drops guest_state_loaded before it forgets the CPU",
        edits=[(V, "  v->cpu = -1;\n  v->guest_state_loaded = 0;\n  return 0;", "  v->guest_state_loaded = 0;\n  v->cpu = -1;\n  return 0;")],
        tests=LOAD_TESTS)

# ---- KVM's ASID allocation (svm.c new_asid, svm_enable_virtualization_cpu) --------------------
KVM_START = (V, "  sd->next_asid = sd->min_asid;\n  sd->asid_generation = 1;",
             "  sd->next_asid = sd->max_asid + 1;   // KVM: the first allocation wraps\n  sd->asid_generation = 1;")
KVM_WRAP = (V, "  if (sd->next_asid > sd->max_asid) {\n    sd->asid_generation++;\n    sd->next_asid = sd->min_asid;\n  }\n",
            "  int wrapped = sd->next_asid > sd->max_asid;\n  if (wrapped) {\n    sd->asid_generation++;\n"
            "    sd->next_asid = sd->min_asid;\n    v->vmcb->control.tlb_control = TLB_CONTROL_FLUSH_ALL;\n  }\n")
variant("kvm_asid_start_and_wrap",
        "KVM's start and wrap: next_asid begins past max_asid, so a CPU's first allocation opens generation 2 "
        "with a flush of every ASID, and every wrap flushes every ASID as KVM's new_asid does; ASIDs reused "
        "later in a generation are still flushed one by one (here a load can end without the VMRUN that would "
        "carry the wrap's flush: run.c, a kick or HLT first)",
        edits=[KVM_START, KVM_WRAP,
               (V, "  if (sd->asid_generation > 1)\n    v->vmcb->control.tlb_control =",
                "  if (!wrapped && sd->asid_generation > 2)\n    v->vmcb->control.tlb_control =")],
        tests=ASID_TESTS)
bug("kvm_flush_at_wrap_only",
    "KVM's new_asid as it is: one flush of every ASID, requested on the VMCB of the vcpu whose load wrapped, and "
    "none for the ASIDs reused after it. KVM hands out ASIDs right before VMRUN; here vcpu_load does, and a load "
    "can end without VMRUN (a kick or HLT first), so the wrap's flush can be lost and another vcpu runs on "
    "stale entries",
    edits=[KVM_START, KVM_WRAP,
           (V, "  if (sd->asid_generation > 1)\n    v->vmcb->control.tlb_control =",
            "  if (0)\n    v->vmcb->control.tlb_control =")],
    tests=["vcpu/random_schedules"])

# ---- found by a fresh-eyes trial ----------------------------------------------------
bug("segment_base_low_half", "compares segment and table bases by their low 32 bits",
    edits=[(V, "a->limit != b->limit || a->base != b->base;",
            "a->limit != b->limit || (uint32)a->base != (uint32)b->base;")],
    tests=["vcpu/clean_marked"])
bug("cr3_low_half", "compares CR3 by its low 32 bits",
    edits=[(V, "if (old->cr0 != now->cr0 || old->cr3 != now->cr3 ||",
            "if (old->cr0 != now->cr0 || (uint32)old->cr3 != (uint32)now->cr3 ||")],
    tests=["vcpu/clean_marked"])
