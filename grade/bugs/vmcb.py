# Lab 2 (vmcb): plausible student mistakes in the regions of kern/svm/vmcb.c,
# perm.c, npt.c and vmcb_check.c, each of which must lose points
# (tools/bugs.py; format in grade/bugs/bugs.py).
V = "kern/svm/vmcb.c"
P = "kern/svm/perm.c"
N = "kern/svm/npt.c"
C = "kern/svm/vmcb_check.c"

# ---- Part A: nested page tables ----------------------------------------------------
bug("npt_table_no_user", "non-leaf nested entries without the U bit (only the leaf has it)",
    edits=[(N, "*pte = V2P(next) | PTE_P | PTE_W | PTE_U;", "*pte = V2P(next) | PTE_P | PTE_W;")],
    tests=["vmcb/npt"])
bug("npt_leaf_no_user", "leaf entries without the U bit",
    edits=[(N, "*pte = (hpa + off) | PTE_P | PTE_U | perm;", "*pte = (hpa + off) | PTE_P | perm;")],
    tests=["vmcb/npt"])
bug("npt_leaf_ignores_perm", "the leaf never gets the caller's permissions (NPT_W)",
    edits=[(N, "*pte = (hpa + off) | PTE_P | PTE_U | perm;", "*pte = (hpa + off) | PTE_P | PTE_U;")],
    tests=["vmcb/npt"])
bug("npt_walk_index_off_by_one", "indexes each level with the next level's bits",
    edits=[(N, "pte_t *pte = &table[PX(level, gpa)];", "pte_t *pte = &table[PX(level - 1, gpa)];")],
    tests=["vmcb/npt"])
bug("npt_pages_not_counted", "npt_walk does not count the tables it allocates",
    edits=[(N, "      npt->npages++;\n", "")],
    tests=["vmcb/npt"])
bug("npt_map_overwrites", "npt_map silently replaces an existing mapping",
    edits=[(N, "int err = !pte ? -ENOMEM : (*pte & PTE_P) ? -EEXIST : 0;", "int err = !pte ? -ENOMEM : 0;")],
    tests=["vmcb/npt"])
bug("npt_map_no_undo", "npt_map leaves the pages mapped so far when a later page fails",
    edits=[(N, "      if (off)\n        npt_unmap(npt, gpa, off);\n", "")],
    tests=["vmcb/npt"])
bug("npt_lookup_drops_offset", "npt_lookup returns the frame without gpa's page offset",
    edits=[(N, "*hpa = PTE_ADDR(*pte) | (gpa % PGSIZE);", "*hpa = PTE_ADDR(*pte);")],
    tests=["vmcb/npt"])
bug("npt_unmap_noop", "npt_unmap finds the entry but does not clear it",
    edits=[(N, "    if (pte)\n      *pte = 0;\n", "    (void)pte;\n")],
    tests=["vmcb/npt"])
bug("npt_free_root_only", "npt_free frees the root and forgets the tables below",
    edits=[(N, "  npt_free_level(npt, npt->pml4, NPT_LEVELS - 1);",
            "  npt_free_level(npt, npt->pml4, 0);")],
    tests=["vmcb/npt"])
bug("npt_init_va", "npt_init records the root's virtual address as N_CR3",
    edits=[(N, "npt->pml4_pa = V2P(npt->pml4);", "npt->pml4_pa = (uint64)npt->pml4;")],
    tests=["vmcb/modes"])

# ---- Part B: permission maps ---------------------------------------------------------
bug("iopm_not_ones", "the IOPM is left zeroed: every port goes to the hardware",
    edits=[(P, "  memset(p->iopm, 0xFF, IOPM_SIZE);\n", "")],
    tests=["vmcb/perm_maps", "vmcb/exits_io"])
bug("msrpm_not_ones", "the MSRPM is left zeroed: every MSR goes to the hardware",
    edits=[(P, "  memset(p->msrpm, 0xFF, MSRPM_SIZE);\n", "")],
    tests=["vmcb/perm_maps", "vmcb/exits_msr"])
bug("perm_alloc_leaks", "vmcb_perm_alloc keeps the IOPM when the MSRPM allocation fails",
    edits=[(P, "  if (!p->iopm || !p->msrpm) {\n    vmcb_perm_free(p);",
            "  if (!p->iopm || !p->msrpm) {\n    p->iopm = p->msrpm = NULL;")],
    tests=["vmcb/nomem"])
bug("msrpm_ranges_swapped", "puts C000_0000h MSRs at offset 0x1000 and C001_0000h at 0x800",
    edits=[(P, "    base = 0x800;\n  else if (msr - 0xC0010000u < 0x2000)\n    base = 0x1000;",
            "    base = 0x1000;\n  else if (msr - 0xC0010000u < 0x2000)\n    base = 0x800;")],
    tests=["vmcb/exits_msr"])
bug("msrpm_one_bit_per_msr", "indexes the MSRPM with one bit per MSR",
    edits=[(P, "uint32 bit = 2 * (msr & 0x1FFF);", "uint32 bit = msr & 0x1FFF;")],
    tests=["vmcb/exits_msr"])
bug("msrpm_read_only", "clears only the read bit: writes still exit",
    edits=[(P, "msrpm[base + bit / 8] &= ~(3u << (bit % 8));", "msrpm[base + bit / 8] &= ~(1u << (bit % 8));")],
    tests=["vmcb/exits_msr"])
bug("passthrough_no_sysenter", "forgets the SYSENTER MSRs in the pass-through list",
    edits=[(P, "MSR_KERNEL_GS_BASE, 0x174, 0x175, 0x176};", "MSR_KERNEL_GS_BASE};")],
    tests=["vmcb/exits_msr"])
bug("passthrough_efer", "also lets the guest access EFER directly (it is in the VMCB, after all)",
    edits=[(P, "MSR_KERNEL_GS_BASE, 0x174, 0x175, 0x176};", "MSR_KERNEL_GS_BASE, 0x174, 0x175, 0x176, MSR_EFER};")],
    tests=["vmcb/exits_msr"])

# ---- Part B: intercepts and the control area ----------------------------------------
bug("no_smi", "no SMI intercept",
    edits=[(V, "INTERCEPT_INTR | INTERCEPT_NMI | INTERCEPT_SMI | INTERCEPT_CPUID",
            "INTERCEPT_INTR | INTERCEPT_NMI | INTERCEPT_CPUID")],
    tests=["vmcb/icpt_host"])
bug("no_machine_check", "no #MC exception intercept",
    edits=[(V, "  c->intercepts[INTERCEPT_WORD_EXC] |= INTERCEPT_EXC(18);   // #MC belongs to the host\n", "")],
    tests=["vmcb/icpt_host"])
bug("no_invd", "no INVD intercept",
    edits=[(V, "INTERCEPT_CPUID | INTERCEPT_INVD |", "INTERCEPT_CPUID |")],
    tests=["vmcb/icpt_insn"])
bug("no_invlpga", "no INVLPGA intercept",
    edits=[(V, "INTERCEPT_HLT | INTERCEPT_INVLPGA |", "INTERCEPT_HLT |")],
    tests=["vmcb/icpt_insn", "vmcb/exits_insn"])
bug("no_monitor_mwait", "no MONITOR/MWAIT intercepts",
    edits=[(V, "INTERCEPT_SKINIT | INTERCEPT_MONITOR |\n      INTERCEPT_MWAIT | INTERCEPT_MWAIT_COND;",
            "INTERCEPT_SKINIT;")],
    tests=["vmcb/icpt_insn"])
bug("no_shutdown", "no SHUTDOWN intercept: a triple-faulting guest resets the machine",
    edits=[(V, "INTERCEPT_MSR_PROT |\n      INTERCEPT_SHUTDOWN;", "INTERCEPT_MSR_PROT;")],
    tests=["vmcb/icpt_host"])
bug("no_vmload_vmsave", "VMLOAD and VMSAVE not intercepted",
    edits=[(V, "INTERCEPT_VMMCALL | INTERCEPT_VMLOAD | INTERCEPT_VMSAVE |", "INTERCEPT_VMMCALL |")],
    tests=["vmcb/icpt_svm"])
bug("no_tlb_flush", "no TLB_CONTROL flush on a new VMCB",
    edits=[(V, "  c->tlb_control = TLB_CONTROL_FLUSH_ALL; // new ASID: drop stale translations\n", "")],
    tests=["vmcb/reset_state"])
bug("no_v_intr_masking", "V_INTR_MASKING left clear",
    edits=[(V, "  c->int_ctl = V_INTR_MASKING;\n", "")],
    tests=["vmcb/modes"])
bug("asid_not_set", "control.asid never set (stays 0)",
    edits=[(V, "  c->asid = s->asid;                      // 0 is the host's: VMRUN refuses it\n", "")],
    tests=["vmcb/modes"])
bug("iopm_base_va", "IOPM_BASE_PA gets the map's virtual address",
    edits=[(V, "c->iopm_base_pa = V2P(p->iopm);", "c->iopm_base_pa = (uint64)p->iopm;")],
    tests=["vmcb/modes"])
bug("nested_paging_off", "NP_ENABLE left clear (nCR3 set)",
    edits=[(V, "  c->nested_ctl = SVM_NESTED_CTL_NP_ENABLE;\n", "")],
    tests=["vmcb/modes"])
bug("switch_vmcb_half", "svm_switch_vmcb sets the page pointer but not current_vmcb",
    edits=[(V, "  v->current_vmcb = target;\n", "")],
    tests=["vmcb/modes"])

# ---- Part B: the save area -----------------------------------------------------------
bug("gpat_zero", "G_PAT left at 0 (every page uncacheable)",
    edits=[(V, "  v->g_pat = 0x0007040600070406UL;       // PAT's reset value (WB, WT, UC-, UC)\n", "")],
    tests=["vmcb/reset_state"])
bug("no_efer_svme", "the guest's EFER.SVME left clear",
    edits=[(V, "  v->efer = EFER_SVME;\n", "")],
    tests=["vmcb/modes"])
bug("rflags_zero", "RFLAGS bit 1 (always 1) left clear",
    edits=[(V, "  v->rflags = FL_RSVD1;                  // bit 1 is always set; IF=0\n", "")],
    tests=["vmcb/reset_state"])
bug("dr7_zero", "DR7 left 0 instead of its reset value",
    edits=[(V, "  v->dr7 = 0x400;\n", "")],
    tests=["vmcb/reset_state"])
bug("real_ip_not_masked", "real mode IP is the whole entry address, not its low 16 bits",
    edits=[(V, "  v->rip = s->rip & 0xFFFF;", "  v->rip = s->rip;")],
    tests=["vmcb/modes"])
bug("real_cs_selector_zero", "real mode CS.base set but the selector left 0",
    edits=[(V, "set_seg(&v->cs, (base >> 4) & 0xFFFF, CODE_ATTR, 0xFFFF, base);",
            "set_seg(&v->cs, 0, CODE_ATTR, 0xFFFF, base);")],
    tests=["vmcb/reset_state"])
bug("long_cs_also_db", "64-bit CS with both L and D set",
    edits=[(V, "set_seg(&v->cs, 0x08, CODE_ATTR | SEG_ATTR_L | SEG_ATTR_G, 0xFFFFFFFF, 0);",
            "set_seg(&v->cs, 0x08, CODE_ATTR | SEG_ATTR_L | SEG_ATTR_DB | SEG_ATTR_G, 0xFFFFFFFF, 0);")],
    tests=["vmcb/modes"])
bug("long_no_lma", "long mode EFER with LME but not LMA",
    edits=[(V, "  v->efer |= EFER_LME | EFER_LMA;", "  v->efer |= EFER_LME;")],
    tests=["vmcb/reset_state"])
bug("prot32_no_pe", "32-bit protected mode without CR0.PE",
    edits=[(V, "  v->cr0 = CR0_PE | CR0_ET | CR0_NE;\n", "  v->cr0 = CR0_ET | CR0_NE;\n")],
    tests=["vmcb/reset_state"])

# ---- Part C: the checker ---------------------------------------------------------------
bug("check_cr4_ignores_cpuid", "treats every optional CR4 bit as reserved",
    edits=[(C, "  ok |= (l1.ecx & (1u << 26)) ? CR4_OSXSAVE : 0;\n", "")],
    tests=["vmcb/legal"])
bug("check_cd_nw_inverted", "rejects CD=1 with NW=1 instead of CD=0 with NW=1",
    edits=[(C, "if (!(s->cr0 & CR0_CD) && (s->cr0 & CR0_NW))", "if ((s->cr0 & CR0_CD) && (s->cr0 & CR0_NW))")],
    tests=["vmcb/rule_cr0_cd_0_with_nw_1", "vmcb/legal"])
bug("check_no_efer_mbz", "no EFER reserved-bit rule",
    edits=[(C, "  if (s->efer & efer_mbz())\n    return VMCB_BAD_EFER_MBZ;\n", "  (void)efer_mbz;\n")],
    tests=["vmcb/rule_efer_bit_2_set"])
bug("check_no_dr6", "no DR6[63:32] rule",
    edits=[(C, "  if (s->dr6 >> 32)\n    return VMCB_BAD_DR6_HIGH;\n", "")],
    tests=["vmcb/rule_dr6_bit_32_set"])
bug("check_eventinj_nmi_vector", "accepts an exception event with vector 2",
    edits=[(C, "return type != SVM_EVTINJ_TYPE_EXEPT || (vec != 2 && vec < 32);",
            "return type != SVM_EVTINJ_TYPE_EXEPT || vec < 32;")],
    tests=["vmcb/rule_eventinj_exception_vector_2"])
bug("check_map_base_only", "checks the map's base against MAXPHYADDR, not its end",
    edits=[(C, "return (base & ~_UL(0xFFF)) < limit - size;", "return (base & ~_UL(0xFFF)) < limit;")],
    tests=["vmcb/rule_iopm_past_maxphyaddr"])
bug("check_no_asid", "no ASID 0 rule",
    edits=[(C, "  if (c->asid == 0)\n    return VMCB_BAD_ASID;\n", "")],
    tests=["vmcb/rule_asid_0"])
bug("check_lm_no_pe_rule", "the long-mode rules forget CR0.PE",
    edits=[(C, "  if (lm_paging && !(s->cr0 & CR0_PE))\n    return VMCB_BAD_LM_NO_PE;\n", "")],
    tests=["vmcb/rule_long_mode_paging_without_cr0_pe"])
bug("vmcb_create_cpu_zero", "vmcb_create leaves vmcb01.cpu at 0, so lab 3 thinks it last ran on CPU 0",
    edits=[(V, "  v->vmcb01.cpu = -1;              // never ran: lab 3's vcpu_load sees a new CPU\n", "")],
    tests=["vmcb/modes"])
bug("data_segs_read_only", "data segments of type 1 (read-only, accessed)",
    edits=[(V, "#define DATA_ATTR (SEG_ATTR_TYPE(0x3) | SEG_ATTR_S | SEG_ATTR_P)", "#define DATA_ATTR (SEG_ATTR_TYPE(0x1) | SEG_ATTR_S | SEG_ATTR_P)")],
    tests=["vmcb/reset_state"])
bug("rsp_not_set", "the guest's RSP is never set from s->rsp",
    edits=[(V, "  v->rsp = s->rsp;\n", "")],
    tests=["vmcb/reset_state"])
bug("iopm_8k", "an IOPM of 8 KiB (one bit per port, forgetting the bits past port 0xFFFF)",
    edits=[(P, "p->iopm = kalloc_pages(IOPM_SIZE / PGSIZE, 1);", "p->iopm = kalloc_pages(2, 1);"),
           (P, "memset(p->iopm, 0xFF, IOPM_SIZE);", "memset(p->iopm, 0xFF, 2 * PGSIZE);")],
    tests=["vmcb/perm_maps", "vmcb/nomem"])

# ---- Part C, caught by the randomized test (vmcb_random) and by no fixed case ----------
bug("check_eventinj_any_exception_vector", "an injected exception may have any vector but 2 (32..255 too)",
    edits=[(C, "return type != SVM_EVTINJ_TYPE_EXEPT || (vec != 2 && vec < 32);",
            "return type != SVM_EVTINJ_TYPE_EXEPT || vec != 2;")],
    tests=["vmcb/random_vmcbs"])
bug("check_eventinj_ignores_valid", "judges EVENTINJ's type even when its V bit is clear (nothing is injected)",
    edits=[(C, "  if (!(ev & SVM_EVTINJ_VALID))\n    return 1;\n  uint64 type", "  uint64 type")],
    tests=["vmcb/random_vmcbs"])
bug("check_eventinj_type1_only", "rejects only the reserved type 1; types 5, 6, 7 pass",
    edits=[(C, "  if (type != SVM_EVTINJ_TYPE_INTR && type != SVM_EVTINJ_TYPE_NMI &&\n"
               "      type != SVM_EVTINJ_TYPE_EXEPT && type != SVM_EVTINJ_TYPE_SOFT)\n    return 0;\n",
            "  if (type == (_UL(1) << SVM_EVTINJ_TYPE_SHIFT))\n    return 0;\n")],
    tests=["vmcb/random_vmcbs"])
bug("check_msrpm_not_checked", "checks the IOPM's end against the address width, never the MSRPM's",
    edits=[(C, "if (!map_fits(c->iopm_base_pa, IOPM_SIZE) || !map_fits(c->msrpm_base_pa, MSRPM_SIZE))",
            "if (!map_fits(c->iopm_base_pa, IOPM_SIZE))")],
    tests=["vmcb/random_vmcbs"])
bug("check_cr3_bits_52", "CR3's reserved bits are 63:52 whatever the CPU's physical address width",
    edits=[(C, "if (s->cr3 & ~((_UL(1) << maxphyaddr()) - 1))", "if (s->cr3 >> 52)")],
    tests=["vmcb/random_vmcbs"])
bug("check_cs_ld_any_mode", "rejects CS.L with CS.D outside long mode too (the CPU ignores CS.L there)",
    edits=[(C, "if (lm_paging && (s->cs.attrib & SEG_ATTR_L) && (s->cs.attrib & SEG_ATTR_DB))",
            "if ((s->cs.attrib & SEG_ATTR_L) && (s->cs.attrib & SEG_ATTR_DB))")],
    tests=["vmcb/random_vmcbs"])
bug("check_dr7_from_bit_31", "DR7's reserved half starts at bit 31",
    edits=[(C, "if (s->dr7 >> 32)", "if (s->dr7 >> 31)")],
    tests=["vmcb/random_vmcbs"])
bug("check_efer_ignores_cpuid", "every EFER bit the APM names is legal, whether or not this CPU has the feature",
    edits=[(C, "  }\n  return ~ok;\n}", "  }\n  return ~(ok | _UL(0x36E000));   // bits 13-15, 17, 18, 20, 21\n}")],
    tests=["vmcb/random_vmcbs"])
bug("check_map_last_byte_legal", "a map may end exactly at the last physical byte (KVM's reading; this CPU refuses it)",
    edits=[(C, "return (base & ~_UL(0xFFF)) < limit - size;", "return (base & ~_UL(0xFFF)) + size - 1 < limit;")],
    tests=["vmcb/random_vmcbs"])
bug("check_cr4_every_optional_bit", "every optional CR4 bit (UMIP .. CET) is legal, whatever CPUID says",
    edits=[(C, "  return ~ok;\n}\n\n// EFER bits that must be zero", "  return ~(ok | _UL(0xF71800));   // bits 11, 12, 16-18, 20-23\n}\n\n// EFER bits that must be zero")],
    tests=["vmcb/random_vmcbs"])

# A correct variant regrades only the tests that reach the code it changes (the
# whole lab took about 10 s a variant): the checker's rules, the intercepts, the
# initial state.
CHECK_TESTS = ['vmcb/rule_asid_0', 'vmcb/rule_vmrun_intercept_clear', 'vmcb/rule_efer_svme_clear', 'vmcb/rule_cr0_cd_0_with_nw_1', 'vmcb/rule_cr0_bit_32_set', 'vmcb/rule_cr3_bit_52_set', 'vmcb/rule_cr4_bit_15_set', 'vmcb/rule_cr4_bit_40_set', 'vmcb/rule_efer_bit_2_set', 'vmcb/rule_efer_bit_40_set', 'vmcb/rule_long_mode_without_cr4_pae', 'vmcb/rule_long_mode_paging_without_cr0_pe', 'vmcb/rule_long_mode_with_cs_l_and_cs_d', 'vmcb/rule_dr6_bit_32_set', 'vmcb/rule_dr7_bit_32_set', 'vmcb/rule_iopm_past_maxphyaddr', 'vmcb/rule_eventinj_reserved_type_1', 'vmcb/rule_eventinj_exception_vector_2'] + ["vmcb/legal", "vmcb/random_vmcbs", "vmcb/every_cpu"]
INTERCEPT_TESTS = ["vmcb/icpt_host", "vmcb/icpt_svm", "vmcb/icpt_insn", "vmcb/exits_io", "vmcb/exits_msr",
                   "vmcb/exits_insn", "vmcb/misc", "vmcb/random_vmcbs"]
INIT_TESTS = ["vmcb/modes", "vmcb/reset_state", "vmcb/npt", "vmcb/legal", "vmcb/random_vmcbs", "vmcb/every_cpu"]

# ---- correct variants: other orders and KVM's choices; each keeps every point ------
variant("check_registers_first",
        "vmcb_check tests the registers, then the long-mode rules, then the control area",
        edits=[(C, "  enum vmcb_rule r = check_control(&vmcb->control);\n  if (r == VMCB_OK)\n    r = check_regs(&vmcb->save);\n"
                   "  if (r == VMCB_OK)\n    r = check_long_mode(&vmcb->save);\n",
                "  enum vmcb_rule r = check_regs(&vmcb->save);\n  if (r == VMCB_OK)\n    r = check_long_mode(&vmcb->save);\n"
                "  if (r == VMCB_OK)\n    r = check_control(&vmcb->control);\n")],
        tests=CHECK_TESTS)
# Not a variant: KVM's reading of the map rule (the last byte < 2^MAXPHYADDR) accepts an MSRPM that
# ends exactly at the last physical byte, which this CPU's VMRUN refuses (vmcb_random shows it).
variant("check_asid_first",
        "the control-area rules in another order: ASID 0 first, then the VMRUN intercept, EVENTINJ, the maps",
        edits=[(C, "  if (!(c->intercepts[INTERCEPT_WORD_MISC2] & INTERCEPT_VMRUN))\n    return VMCB_BAD_VMRUN_INTERCEPT;\n",
                "  if (c->asid == 0)\n    return VMCB_BAD_ASID;\n"
                "  if (!(c->intercepts[INTERCEPT_WORD_MISC2] & INTERCEPT_VMRUN))\n    return VMCB_BAD_VMRUN_INTERCEPT;\n"
                "  if (!eventinj_ok(c->eventinj))\n    return VMCB_BAD_EVENTINJ;\n"),
               (C, "  if (!eventinj_ok(c->eventinj))\n    return VMCB_BAD_EVENTINJ;\n  if (c->asid == 0)\n    return VMCB_BAD_ASID;\n", "")],
        tests=CHECK_TESTS)
variant("check_eventinj_switch",
        "EVENTINJ judged with a switch over the type",
        edits=[(C, "  if (type != SVM_EVTINJ_TYPE_INTR && type != SVM_EVTINJ_TYPE_NMI &&\n"
                   "      type != SVM_EVTINJ_TYPE_EXEPT && type != SVM_EVTINJ_TYPE_SOFT)\n    return 0;\n"
                   "  return type != SVM_EVTINJ_TYPE_EXEPT || (vec != 2 && vec < 32);",
                "  switch (type) {\n  case SVM_EVTINJ_TYPE_INTR:\n  case SVM_EVTINJ_TYPE_NMI:\n  case SVM_EVTINJ_TYPE_SOFT:\n"
                "    return 1;\n  case SVM_EVTINJ_TYPE_EXEPT:\n    return vec < 32 && vec != 2;\n  default:\n    return 0;\n  }")],
        tests=CHECK_TESTS)
variant("check_cached_maxphyaddr",
        "reads MAXPHYADDR from CPUID once and keeps it (KVM caches CPUID too)",
        edits=[(C, "static int maxphyaddr(void) { return cpuid(0x80000008, 0).eax & 0xFF; }",
                "static int maxphyaddr(void)\n{\n  static int bits;\n  if (!bits)\n    bits = cpuid(0x80000008, 0).eax & 0xFF;\n  return bits;\n}")],
        tests=CHECK_TESTS)
variant("intercepts_kvm_superset",
        "KVM's larger intercept set: also INIT, RSM, TASK_SWITCH, FERR_FREEZE, WBINVD, XSETBV, RDPRU",
        edits=[(V, "      INTERCEPT_SHUTDOWN;\n", "      INTERCEPT_SHUTDOWN | INTERCEPT_INIT | INTERCEPT_RSM | INTERCEPT_TASK_SWITCH |\n"
                   "      INTERCEPT_FERR_FREEZE;\n"),
               (V, "      INTERCEPT_MWAIT | INTERCEPT_MWAIT_COND;\n",
                "      INTERCEPT_MWAIT | INTERCEPT_MWAIT_COND | INTERCEPT_WBINVD | INTERCEPT_XSETBV | INTERCEPT_RDPRU;\n")],
        tests=INTERCEPT_TESTS)
variant("init_save_mode_switch",
        "vmcb_init_save picks the mode's helper with a switch",
        edits=[(V, "  if (s->mode == GUEST_REAL)\n    save_real(v, s);\n  else if (s->mode == GUEST_PROT32)\n    save_prot32(v, s);\n"
                   "  else\n    save_long(v, s);\n",
                "  switch (s->mode) {\n  case GUEST_REAL: save_real(v, s); break;\n  case GUEST_PROT32: save_prot32(v, s); break;\n"
                "  default: save_long(v, s); break;\n  }\n")],
        tests=INIT_TESTS)

# ---- found by a fresh-eyes trial ----------------------------------------------------
bug("check_lm_rules_read_lma", "the long-mode rules test EFER.LMA instead of EFER.LME (§15.5.1 names LME with CR0.PG)",
    edits=[(C, "int lm_paging = (s->efer & EFER_LME) && (s->cr0 & CR0_PG);",
            "int lm_paging = (s->efer & EFER_LMA) && (s->cr0 & CR0_PG);")],
    tests=["vmcb/random_vmcbs"])
bug("check_eventinj_vector_32_ok", "an injected exception may have vector 32 (off by one)",
    edits=[(C, "(vec != 2 && vec < 32)", "(vec != 2 && vec <= 32)")],
    tests=["vmcb/random_vmcbs"])
bug("npt_lookup_drops_nx", "npt_lookup reports only the entry's low 12 bits: NX (bit 63) is lost",
    edits=[(N, "*perm = PTE_FLAGS(*pte);", "*perm = *pte & 0xFFF;")],
    tests=["vmcb/npt"])
bug("check_cr3_width_off_by_one", "CR3's legal bits stop one below the physical address width",
    edits=[(C, "if (s->cr3 & ~((_UL(1) << maxphyaddr()) - 1))", "if (s->cr3 & ~((_UL(1) << (maxphyaddr() - 1)) - 1))")],
    tests=["vmcb/random_vmcbs"])
