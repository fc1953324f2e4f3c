# Bug catalogue of lab 8 (smp): plausible student mistakes in the solution regions of
# user/vmm/smp.c (the per-vcpu thread loop, the INIT-SIPI state machine, IPI delivery
# with its kick or wakeup) and user/vmm/ioapic.c (the APIC bus's addressing), each of
# which must lose points (tools/bugs.py), and correct variants that must keep every point
# of the 2-vcpu storm and svmlab's ktest=smp, or for the addressing of the smpipi kernel
# on 4 vcpus (the widened 3-vcpu storm and the Linux boots are left to make grade).
from bugs import bug, variant

S = "user/vmm/smp.c"

# ---- waking the target ---------------------------------------------------------------
bug("lost_wakeup_no_kick",
    "wake() never kicks: a vcpu halted in the kernel (or running) does not see its new IPI",
    edits=[(S, "  if (i != smp.self && t->in_run)\n    vcpu_kick(t->vm, t->vcpu);\n", "")],
    tests=["smp/two"])
bug("lost_wakeup_no_futex",
    "wake() only kicks: an AP waiting for its SIPI in wait_wake never wakes",
    edits=[(S, "  t->wake++;\n  futex_wake(&t->wake, 1);\n", "")],
    tests=["smp/two"])
bug("wake_without_bump",
    "wake() calls futex_wake without changing the word: a waiter that has not slept yet "
    "sleeps through it (a lost wakeup)",
    edits=[(S, "  t->wake++;\n  futex_wake(&t->wake, 1);\n", "  futex_wake(&t->wake, 1);\n")],
    tests=["smp/three"])
bug("kick_only_halted",
    "wake() kicks only a vcpu whose last exit said it was halted: a running one keeps its IPI "
    "until some other exit",
    edits=[(S, "  if (i != smp.self && t->in_run)\n", "  if (i != smp.self && t->in_run && t->e.halted)\n")],
    tests=["smp/two", "smp/three"])
bug("in_run_after_unlock",
    "in_run is set after the VMM lock is let go: an IPI to a vcpu being loaded on another "
    "CPU (between the unlock and vcpu_run) is not kicked and waits in IRR",
    edits=[(S, "    g->in_run = 1;\n    smp_unlock(g);\n", "    smp_unlock(g);\n    g->in_run = 1;\n")],
    tests=["smp/three"])
bug("kick_self",
    "wake() kicks also the vcpu whose exit is being handled, and only it",
    edits=[(S, "  if (i != smp.self && t->in_run)\n", "  if (i == smp.self)\n")],
    tests=["smp/two"])

# ---- destinations --------------------------------------------------------------------
bug("broadcast_includes_self",
    "the all-excluding-self shorthand delivers to the sender as well",
    edits=[(S, "  case SH_OTHERS: return i != from;\n", "  case SH_OTHERS: return 1;\n")],
    tests=["smp/two"])
bug("all_excludes_self",
    "the all-including-self shorthand leaves the sender out",
    edits=[(S, "  case SH_ALL: return 1;\n", "  case SH_ALL: return i != from;\n")],
    tests=["smp/two"])
bug("self_means_bsp",
    "the self shorthand sends to CPU 0 instead of the sender",
    edits=[(S, "  case SH_SELF: return i == from;\n", "  case SH_SELF: return i == 0;\n")],
    tests=["smp/two"])
bug("logical_as_physical",
    "the destination mode bit is ignored: a logical destination is read as an APIC ID",
    edits=[(S, "  return lapic_match_dest(apic_lapic(i), dest, (lo & ICR_LOGICAL) != 0);\n",
            "  return lapic_match_dest(apic_lapic(i), dest, 0);\n")],
    tests=["smp/two"])
bug("shorthand_ignored",
    "the shorthand is ignored: every IPI goes by its destination field",
    edits=[(S, "  switch (ICR_SHORTHAND(lo)) {\n  case SH_SELF: return i == from;\n  case SH_ALL: return 1;\n"
               "  case SH_OTHERS: return i != from;\n  }\n", "")],
    tests=["smp/two"])

# ---- delivery modes ------------------------------------------------------------------
bug("nmi_as_fixed",
    "an NMI IPI is delivered as a fixed interrupt of its vector field (0: illegal, dropped)",
    edits=[(S, "  case DM_NMI:\n    lapic_nmi(l);\n    if (t->mp == MP_STOPPED)\n      t->mp = MP_RUNNABLE;\n    break;\n",
            "  case DM_NMI:\n    (void)l;\n    smp_accept(i, vector, 0);\n    return;\n")],
    tests=["smp/two"])
bug("fixed_without_wake",
    "a fixed IPI goes into the target's IRR with lapic_accept, without making it look",
    edits=[(S, "    smp_accept(i, vector, 0);   // (wakes i itself)\n    return;\n",
            "    lapic_accept(l, vector, 0);\n    return;\n")],
    tests=["smp/two"])
bug("init_ignored_while_running",
    "INIT is taken only by a vcpu that is not running: a running AP goes on",
    edits=[(S, "  case DM_INIT:   // whatever it was doing: back to wait-for-SIPI (its thread resets it)\n",
            "  case DM_INIT:   // whatever it was doing: back to wait-for-SIPI (its thread resets it)\n"
            "    if (t->mp == MP_RUNNABLE)\n      return;\n")],
    tests=["smp/two"])
bug("sipi_before_init",
    "a SIPI (re)starts a vcpu in any state, not only one waiting for it after INIT",
    edits=[(S, "    if (t->mp != MP_WAIT_SIPI || t->sipi_vector >= 0)\n      return;\n    t->sipi_vector = vector;\n",
            "    t->mp = MP_WAIT_SIPI;\n    t->sipi_vector = vector;\n")],
    tests=["smp/two"])
bug("init_keeps_old_sipi",
    "INIT does not forget the SIPI vector accepted before: the vcpu restarts without waiting "
    "for a new SIPI",
    edits=[(S, "    t->mp = MP_WAIT_SIPI;\n    t->sipi_vector = -1;\n", "    t->mp = MP_WAIT_SIPI;\n")],
    tests=["smp/two"])

# ---- the vcpu's side of INIT-SIPI and the thread loop ----------------------------------
bug("wait_sipi_runs_anyway",
    "mp_step lets a vcpu waiting for its SIPI enter the guest (from its reset registers)",
    edits=[(S, "  if (g->mp == MP_RUNNABLE)\n    return 0;\n  wait_wake(g);\n",
            "  if (g->mp == MP_RUNNABLE || g->mp == MP_WAIT_SIPI)\n    return 0;\n  wait_wake(g);\n")],
    tests=["smp/two"])
bug("restart_without_vm_run_init",
    "a vcpu restarted by SIPI runs without VM_RUN_INIT: the kernel keeps it in the HLT it "
    "was in before the INIT",
    edits=[(S, "    if (g->restarted)\n      g->e.run_flags |= VM_RUN_INIT;\n", "")],
    tests=["smp/two"])
bug("run_with_lock_held",
    "vcpu_run is called with the VMM lock held: a vcpu halted in the kernel blocks every "
    "other vcpu's exits",
    edits=[(S, "    g->in_run = 1;\n    smp_unlock(g);\n", "    g->in_run = 1;\n"),
           (S, "    g->in_run = 0;\n    stats_exit(g);\n    smp_lock(g);\n", "    g->in_run = 0;\n    stats_exit(g);\n")],
    tests=["smp/two"])
bug("others_ignore_end",
    "a vcpu thread's loop only checks its own end: the others run on after the guest ended",
    edits=[(S, "  while (g->end == END_NONE && !smp.over) {\n", "  while (g->end == END_NONE) {\n")],
    tests=["smp/two"])

# ---- correct variants ------------------------------------------------------------------
variant("kick_always",
        "wake() kicks every other vcpu, in_run or not (an extra KICK exit at worst)",
        edits=[(S, "  if (i != smp.self && t->in_run)\n", "  if (i != smp.self)\n")],
        tests=["smp/two", "smp/turtles_smp"])
variant("futex_wake_all",
        "wake() wakes every waiter on the word and kicks before it does",
        edits=[(S, "  t->wake++;\n  futex_wake(&t->wake, 1);\n  if (i != smp.self && t->in_run)\n    vcpu_kick(t->vm, t->vcpu);\n",
                "  if (i != smp.self && t->in_run)\n    vcpu_kick(t->vm, t->vcpu);\n  t->wake++;\n  futex_wake(&t->wake, 1 << 30);\n")],
        tests=["smp/two", "smp/turtles_smp"])
variant("init_flag_in_mp_step",
        "the VM_RUN_INIT request is remembered by mp_step at the SIPI and passed by the loop",
        edits=[(S, "    if (sipi_start(g, g->sipi_vector) < 0)\n      return 1;\n",
                "    if (sipi_start(g, g->sipi_vector) < 0)\n      return 1;\n    g->restarted = 1;\n")],
        tests=["smp/two", "smp/turtles_smp"])

# ---- the APIC bus's addressing (user/vmm/ioapic.c: lapic_match_dest, lapic_lowest) ----
I = "user/vmm/ioapic.c"
bug("flat_ignores_dfr",
    "the DFR is never read: every logical destination is matched as in the flat model",
    edits=[(I, "  if ((a->dfr >> 28) == 0xF)\n    return (dest & ldr) != 0;\n", "  return (dest & ldr) != 0;\n")],
    tests=["smp/ipis"])
bug("cluster_ignores_cluster",
    "cluster model: only the four low bits are compared, not the cluster number",
    edits=[(I, "  return (dest >> 4) == (ldr >> 4) && (dest & ldr & 0xF) != 0;\n",
            "  return (dest & ldr & 0xF) != 0;\n")],
    tests=["smp/ipis"])
bug("logical_no_broadcast",
    "a logical 0xFF is matched as a mask, not as the broadcast (in the cluster model it names "
    "cluster 15 and reaches nobody)",
    edits=[(I, "  if (dest == 0xFF)\n    return 1;\n  if ((a->dfr", "  if ((a->dfr")],
    tests=["smp/ipis"])
bug("physical_no_broadcast",
    "physical destination 0xFF is not the broadcast",
    edits=[(I, "    return dest == a->id || dest == 0xFF;\n", "    return dest == a->id;\n")],
    tests=["smp/ipis"])
bug("ldr_low_byte",
    "the logical ID is read from the LDR's bits 7:0 instead of 31:24",
    edits=[(I, "  uint32 ldr = a->ldr >> 24;\n", "  uint32 ldr = a->ldr & 0xFF;\n")],
    tests=["smp/ipis"])
bug("flat_equal_not_and",
    "flat model: the destination must equal the logical ID, so a mask naming several CPUs "
    "reaches none",
    edits=[(I, "    return (dest & ldr) != 0;\n", "    return dest == ldr;\n")],
    tests=["smp/ipis"])
bug("lowest_highest_tpr",
    "lowest priority goes to the APIC with the highest TPR",
    edits=[(I, "apics[i].tpr < apics[best].tpr", "apics[i].tpr > apics[best].tpr")],
    tests=["smp/ipis"])
bug("lowest_first_of_set",
    "lowest priority goes to the first APIC of the set whatever its TPR (QEMU 7.2's choice)",
    edits=[(I, "    if ((set >> i & 1) && (best < 0 || apics[i].tpr < apics[best].tpr))\n",
            "    if ((set >> i & 1) && best < 0)\n")],
    tests=["smp/ipis"])
bug("lowest_ignores_set",
    "lowest priority takes the lowest TPR among all APICs, destinations or not",
    edits=[(I, "    if ((set >> i & 1) && (best < 0 || apics[i].tpr < apics[best].tpr))\n",
            "    if (best < 0 || apics[i].tpr < apics[best].tpr)\n")],
    tests=["smp/ipis"])

variant("dfr_whole_register",
        "the model is told by the whole DFR (flat: FFFFFFFFh, as KVM's APIC_DFR_FLAT compare)",
        edits=[(I, "  if ((a->dfr >> 28) == 0xF)\n", "  if (a->dfr == 0xFFFFFFFF)\n")],
        tests=["smp/ipis"])
variant("lowest_last_of_equals",
        "lowest priority: of equal TPRs the last APIC takes it",
        edits=[(I, "apics[i].tpr < apics[best].tpr", "apics[i].tpr <= apics[best].tpr")],
        tests=["smp/ipis"])
variant("lowest_by_class",
        "lowest priority compares TPR classes (bits 7:4) only",
        edits=[(I, "apics[i].tpr < apics[best].tpr", "(apics[i].tpr & 0xF0) < (apics[best].tpr & 0xF0)")],
        tests=["smp/ipis"])
