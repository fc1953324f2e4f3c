# Bug catalogue of lab 5 (irq): plausible student mistakes in the solution regions of
# kern/svm/irq.c (injection) and kern/svm/halt.c (halting and waking), each of which
# must lose points (tools/bugs.py).
from bugs import bug, variant

I = "kern/svm/irq.c"
H = "kern/svm/halt.c"

# ---- Part A: injection ----------------------------------------------------------------
bug("allowed_ignores_if",
    "svm_interrupt_allowed never looks at the guest's IF",
    edits=[(I, "  if (!(vmcb->save.rflags & FL_IF))\n    return 0;\n", "")],
    tests=["irq/allowed_if", "irq/window"])
bug("allowed_host_if",
    "svm_interrupt_allowed tests the host's RFLAGS (rflags()) instead of the guest's",
    edits=[(I, "if (!(vmcb->save.rflags & FL_IF))", "if (!(rflags() & FL_IF))")],
    tests=["irq/allowed_if"])
bug("allowed_ignores_shadow",
    "svm_interrupt_allowed forgets the interrupt shadow",
    edits=[(I, "  if (vmcb->control.int_state & SVM_INTERRUPT_SHADOW)\n    return 0;\n", "")],
    tests=["irq/allowed_shadow"])
bug("shadow_wrong_bit",
    "the shadow test reads int_state bit 1 (the guest's interrupt mask) instead of bit 0",
    edits=[(I, "if (vmcb->control.int_state & SVM_INTERRUPT_SHADOW)", "if (vmcb->control.int_state & SVM_GUEST_INT_MASK)")],
    tests=["irq/allowed_shadow"])
bug("allowed_ignores_eventinj",
    "svm_interrupt_allowed does not check EVENTINJ, so the line overwrites a queued event",
    edits=[(I, "  return !(vmcb->control.eventinj & SVM_EVTINJ_VALID);\n  // LAB 5 STUB", "  return 1;\n  // LAB 5 STUB")],
    tests=["irq/allowed_eventinj", "irq/eventinj_first", "irq/event_wake"])
bug("inject_as_exception",
    "svm_inject_irq uses the exception type instead of an external interrupt",
    edits=[(I, "SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_INTR | (uint32)vector", "SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | (uint32)vector")],
    tests=["irq/inject_inta", "irq/count"])
bug("inject_no_valid_bit",
    "svm_inject_irq forgets EVENTINJ's valid bit: nothing is ever delivered",
    edits=[(I, "v->vmcb->control.eventinj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_INTR | (uint32)vector;",
            "v->vmcb->control.eventinj = SVM_EVTINJ_TYPE_INTR | (uint32)vector;")],
    tests=["irq/inject_inta", "irq/count"])
bug("line_not_lowered",
    "the injection does not lower the line (no INTA): the same vector comes again and again",
    edits=[(I, "    svm_inject_irq(v, vector);\n    v->irq_line = 0;\n", "    svm_inject_irq(v, vector);\n")],
    tests=["irq/inject_inta", "irq/count"])
bug("no_ack_reported",
    "the injection does not record irq_acked, so user space never hears of the INTA",
    edits=[(I, "    v->irq_acked = vector;\n", "")],
    tests=["irq/inject_inta", "irq/count"])
bug("many_intas_per_run",
    "inject_pending_event takes a new vector from the line even after this run's INTA",
    edits=[(I, "  if (v->irq_acked)\n    return;\n  if (svm_interrupt_allowed(v)) {", "  if (svm_interrupt_allowed(v)) {")],
    tests=["irq/one_inta"])
bug("no_window",
    "when the guest cannot take the interrupt, no window is opened: it waits for the next exit",
    edits=[(I, "  } else {\n    svm_enable_irq_window(v);\n  }\n", "  }\n")],
    tests=["irq/window_open", "irq/window"])
bug("window_without_vintr_intercept",
    "the window sets V_IRQ but not the VINTR intercept: the guest takes a virtual interrupt instead of exiting",
    edits=[(I, "  c->intercepts[INTERCEPT_WORD_MISC1] |= INTERCEPT_VINTR;\n", "")],
    tests=["irq/window_open", "irq/window"])
bug("window_without_v_irq",
    "the window sets the VINTR intercept but no V_IRQ, so there is nothing to exit for",
    edits=[(I, "(c->int_ctl & ~(V_INTR_VECTOR_MASK | V_INTR_PRIO_MASK)) | V_IRQ | V_IGN_TPR |",
            "(c->int_ctl & ~(V_INTR_VECTOR_MASK | V_INTR_PRIO_MASK)) | V_IGN_TPR |")],
    tests=["irq/window_open", "irq/window"])
bug("window_clean_bits",
    "opening the window does not mark the intercepts dirty (hardware that honours clean bits never sees it)",
    edits=[(I, "  v->irq_window = 1;\n  v->nwindows++;\n", "  v->irq_window = 1;\n  v->nwindows++;\n  vmcb_mark_clean(v->vmcb, VMCB_CLEAN_INTERCEPTS);\n")],
    tests=["irq/window_open"])
bug("window_never_closed",
    "svm_complete_interrupts leaves the window open after the exit",
    edits=[(I, "  // LAB 5 BEGIN\n  svm_clear_irq_window(v);\n", "  // LAB 5 BEGIN\n")],
    tests=["irq/window_close"])
bug("clear_keeps_v_irq",
    "closing the window removes the intercept but leaves V_IRQ set",
    edits=[(I, "  c->int_ctl &= ~V_IRQ;\n  c->intercepts[INTERCEPT_WORD_MISC1] &= ~INTERCEPT_VINTR;",
            "  c->intercepts[INTERCEPT_WORD_MISC1] &= ~INTERCEPT_VINTR;")],
    tests=["irq/window_close", "irq/window"])
bug("window_clobbers_vmm_virq",
    "the window does not check for a V_IRQ the VMM queued, and closing it wipes that V_IRQ",
    edits=[(I, "  if (v->irq_window || (c->int_ctl & V_IRQ))\n    return;\n  c->int_ctl", "  if (v->irq_window)\n    return;\n  c->int_ctl")],
    tests=["irq/vmm_virq"])

# ---- Part B: halting and waking ---------------------------------------------------------
bug("halt_ignores_if",
    "HLT always waits in the kernel, also with IF=0 (where nothing can ever wake the guest)",
    edits=[(H, "  if (!(v->vmcb->save.rflags & FL_IF))\n    return 0;\n  v->halted = 1;", "  v->halted = 1;")],
    tests=["irq/halt_if", "irq/if0_hlt"])
bug("halt_not_recorded",
    "vcpu_halt_blocks returns 1 but never marks the vcpu halted: the guest spins through HLT",
    edits=[(H, "    return 0;\n  v->halted = 1;\n  return 1;", "    return 0;\n  return 1;")],
    tests=["irq/halt_if", "irq/halt_cpu"])
bug("events_ignore_eventinj",
    "vcpu_has_events forgets EVENTINJ: an NMI or exception the VMM injects never wakes a halted vcpu",
    edits=[(H, "  if (c->eventinj & SVM_EVTINJ_VALID)\n    return 1;\n  return (c->int_ctl", "  return (c->int_ctl")],
    tests=["irq/wake_events", "irq/event_wake"])
bug("events_ignore_acked",
    "vcpu_has_events counts the line even when this run already took a vector from it",
    edits=[(H, "  if (v->irq_line && !v->irq_acked)\n    return 1;", "  if (v->irq_line)\n    return 1;")],
    tests=["irq/wake_events"])
bug("events_ignore_vmm_virq",
    "vcpu_has_events forgets the VMM's own V_IRQ",
    edits=[(H, "  return (c->int_ctl & V_IRQ) && !v->irq_window;\n", "  return 0;\n")],
    tests=["irq/wake_events"])
bug("kick_not_consumed",
    "a kick is never cleared: every later vcpu_run returns VM_EXIT_KICK at once",
    edits=[(H, "if (__atomic_exchange_n(&v->kick, 0, __ATOMIC_SEQ_CST))", "if (__atomic_load_n(&v->kick, __ATOMIC_SEQ_CST))")],
    tests=["irq/requests", "irq/kick"])
bug("kill_not_checked",
    "the run requests forget the kill: a process killed while its vcpu halts never dies",
    edits=[(H, "  if (p && p->killed)\n    return -EINTR;\n  if (__atomic_exchange_n", "  (void)p;\n  if (__atomic_exchange_n")],
    tests=["irq/kill"])
bug("console_without_flag",
    "console input ends every run, whether or not it asked for VM_RUN_WAKE_CONSOLE",
    edits=[(H, "if ((v->run_flags & VM_RUN_WAKE_CONSOLE) && console_input_waiting())", "if (console_input_waiting())")],
    tests=["irq/console"])
bug("block_no_deadline_timer",
    "vcpu_block does not arm the timer: a halted vcpu sleeps through its deadline",
    edits=[(H, "  if (v->run_deadline)\n    lapic_deadline_arm(ns_to_tsc(v->run_deadline));\n  v->blocked = 1;", "  v->blocked = 1;")],
    tests=["irq/deadlines"])
bug("entry_no_deadline_timer",
    "svm_prepare_entry does not arm the timer for a running guest's deadline",
    edits=[(I, "  if (v->run_deadline)\n    lapic_deadline_arm(ns_to_tsc(v->run_deadline));\n  return 1;\n  // LAB 5 STUB",
            "  return 1;\n  // LAB 5 STUB")],
    tests=["irq/deadline_armed"])
bug("busy_wait_halt",
    "a halted vcpu is put back into the guest instead of sleeping (no vcpu_block)",
    edits=[(H, "    vcpu_block(v);\n  }\n  // LAB 5 STUB", "    v->halted = 0;\n  }\n  // LAB 5 STUB")],
    tests=["irq/halt_cpu", "irq/halted_not_entered"])
bug("unhalt_without_events",
    "a halted vcpu runs again at once, event or not",
    edits=[(H, "    if (vcpu_has_events(v)) {\n      v->halted = 0;\n      break;\n    }\n    vcpu_block(v);",
            "    v->halted = 0;\n    break;")],
    tests=["irq/halt_cpu", "irq/deadlines"])
bug("line_no_wakeup",
    "vcpu_set_irq_line does not wake a halted vcpu",
    edits=[(H, "  v->irq_line = vector;\n  if (vector)\n    wakeup(&halt_chan);\n", "  v->irq_line = vector;\n")],
    tests=["irq/kick"])
bug("line_no_ipi",
    "vcpu_set_irq_line does not kick the CPU of a running vcpu",
    edits=[(H, "  release(&halt_lock);\n  if (vector)\n    kick_cpu(cpu);\n", "  release(&halt_lock);\n  (void)cpu;\n")],
    tests=["irq/ipis"])
bug("kick_no_ipi",
    "vcpu_kick only sets the flag: a running vcpu sees it at the next host tick",
    edits=[(H, "  release(&halt_lock);\n  kick_cpu(cpu);\n", "  release(&halt_lock);\n  (void)cpu;\n")],
    tests=["irq/ipis"])
bug("kick_no_wakeup",
    "vcpu_kick does not wake a halted vcpu",
    edits=[(H, "  __atomic_store_n(&v->kick, 1, __ATOMIC_SEQ_CST);\n  wakeup(&halt_chan);\n",
            "  __atomic_store_n(&v->kick, 1, __ATOMIC_SEQ_CST);\n")],
    tests=["irq/kick"])
bug("enter_while_halted",
    "svm_prepare_entry enters a halted vcpu",
    edits=[(I, "if (__atomic_load_n(&v->kick, __ATOMIC_SEQ_CST) || v->halted) {", "if (__atomic_load_n(&v->kick, __ATOMIC_SEQ_CST)) {")],
    tests=["irq/halted_not_entered"])

# ---- wrong variants that once kept full marks ---------------------------------------------
# Each was graded 148/148 before the tests named here existed; the test says why it is wrong.
R = "kern/svm/run.c"
ENTRY_KICK = """  __atomic_store_n(&v->guest_cpu, cpu + 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&v->kick, __ATOMIC_SEQ_CST) || v->halted) {
    __atomic_store_n(&v->guest_cpu, 0, __ATOMIC_SEQ_CST);
    return 0;
  }
"""
LINE = """  acquire(&halt_lock);
  v->irq_line = vector;
  if (vector)
    wakeup(&halt_chan);
  int cpu = __atomic_load_n(&v->guest_cpu, __ATOMIC_SEQ_CST);
  release(&halt_lock);
  if (vector)
    kick_cpu(cpu);
"""

bug("window_not_dirty",
    "opening the window marks no clean bit dirty (QEMU ignores clean bits; hardware keeps its cached intercepts)",
    edits=[(I, "  c->intercepts[INTERCEPT_WORD_MISC1] |= INTERCEPT_VINTR;\n  vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_INTR);\n"
               "  vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_INTERCEPTS);\n  v->irq_window = 1;",
            "  c->intercepts[INTERCEPT_WORD_MISC1] |= INTERCEPT_VINTR;\n  v->irq_window = 1;")],
    tests=["irq/window_open"])
bug("window_dirty_intr_only",
    "opening the window marks only the interrupt-control group dirty, not the intercepts",
    edits=[(I, "  vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_INTERCEPTS);\n  v->irq_window = 1;", "  v->irq_window = 1;")],
    tests=["irq/window_open"])
bug("window_prio0_no_ign_tpr",
    "the window's V_IRQ has priority 0 and no V_IGN_TPR: a guest with CR8 > 0 never opens it",
    edits=[(I, "| V_IRQ | V_IGN_TPR |\n               ((uint64)0xF << V_INTR_PRIO_SHIFT);\n  c->intercepts",
            "| V_IRQ;\n  c->intercepts")],
    tests=["irq/window_tpr"])
bug("inject_in_shadow",
    "inject_pending_event tests IF and EVENTINJ itself and so injects inside an STI/MOV SS shadow",
    edits=[(I, "  if (svm_interrupt_allowed(v)) {\n    svm_inject_irq(v, vector);",
            "  if ((v->vmcb->save.rflags & FL_IF) && !(v->vmcb->control.eventinj & SVM_EVTINJ_VALID)) {\n"
            "    svm_inject_irq(v, vector);")],
    tests=["irq/inject_shadow"])
bug("kick_check_before_guest_mode",
    "svm_prepare_entry reads the kick request before entering guest mode: a kick in between is lost until a tick",
    edits=[(I, ENTRY_KICK, "  if (__atomic_load_n(&v->kick, __ATOMIC_SEQ_CST) || v->halted)\n    return 0;\n"
                           "  __atomic_store_n(&v->guest_cpu, cpu + 1, __ATOMIC_SEQ_CST);\n")],
    tests=["irq/orders"])
bug("no_kick_check_at_entry",
    "svm_prepare_entry does not look at the kick request at all (only vcpu_check_requests did, earlier)",
    edits=[(I, "if (__atomic_load_n(&v->kick, __ATOMIC_SEQ_CST) || v->halted) {", "if (v->halted) {")],
    tests=["irq/guest_mode", "irq/orders"])
bug("kick_reads_guest_cpu_first",
    "vcpu_kick reads guest_cpu before storing the request: an entry in between is neither stopped nor IPIed",
    edits=[(H, "  acquire(&halt_lock);\n  __atomic_store_n(&v->kick, 1, __ATOMIC_SEQ_CST);\n  wakeup(&halt_chan);\n"
               "  int cpu = __atomic_load_n(&v->guest_cpu, __ATOMIC_SEQ_CST);\n",
            "  int cpu = __atomic_load_n(&v->guest_cpu, __ATOMIC_SEQ_CST);\n  acquire(&halt_lock);\n"
            "  __atomic_store_n(&v->kick, 1, __ATOMIC_SEQ_CST);\n  wakeup(&halt_chan);\n")],
    tests=["irq/orders"])
bug("line_without_lock",
    "vcpu_set_irq_line raises the line and wakes the sleeper without halt_lock: a vcpu between its check and "
    "sleep() misses the wakeup",
    edits=[(H, LINE, "  v->irq_line = vector;\n  if (vector)\n    wakeup(&halt_chan);\n"
                     "  int cpu = __atomic_load_n(&v->guest_cpu, __ATOMIC_SEQ_CST);\n  if (vector)\n    kick_cpu(cpu);\n")],
    tests=["irq/wakeup"])
bug("ipi_before_line",
    "vcpu_set_irq_line sends the IPI before it stores the line: the exit comes, the entry finds no line",
    edits=[(H, LINE, "  int cpu = __atomic_load_n(&v->guest_cpu, __ATOMIC_SEQ_CST);\n  if (vector)\n    kick_cpu(cpu);\n"
                     "  acquire(&halt_lock);\n  v->irq_line = vector;\n  if (vector)\n    wakeup(&halt_chan);\n"
                     "  release(&halt_lock);\n")],
    tests=["irq/ipis", "irq/orders"])
bug("second_vector_no_exit",
    "a halted vcpu whose line carries a second vector in the same run sleeps on (no VM_EXIT_INTR)",
    edits=[(H, "  if (v->halted && v->irq_line && v->irq_acked)\n    return VM_EXIT_INTR;", "")],
    tests=["irq/second"])
bug("second_vector_exit_hlt",
    "a second vector while halted ends the run with VM_EXIT_HLT (the guest stopped for good) instead of VM_EXIT_INTR",
    edits=[(H, "    return VM_EXIT_INTR;   // a second vector", "    return VM_EXIT_HLT;   // a second vector")],
    tests=["irq/second"])
bug("block_deadline_late",
    "vcpu_block arms the timer 2 ms after the deadline",
    edits=[(H, "    lapic_deadline_arm(ns_to_tsc(v->run_deadline));\n  v->blocked = 1;",
            "    lapic_deadline_arm(ns_to_tsc(v->run_deadline + 2000000));\n  v->blocked = 1;")],
    tests=["irq/deadlines"])
bug("no_guest_mode",
    "svm_prepare_entry never marks guest mode: kicks and the line never IPI a running vcpu",
    edits=[(I, "  __atomic_store_n(&v->guest_cpu, cpu + 1, __ATOMIC_SEQ_CST);\n  if (__atomic_load_n",
            "  (void)cpu;\n  if (__atomic_load_n")],
    tests=["irq/guest_mode", "irq/orders", "irq/kick"])
bug("guest_cpu_off_by_one",
    "guest_cpu is stored as the CPU number, not CPU + 1: CPU 0 reads as 'not in guest mode', others get the wrong IPI",
    edits=[(I, "__atomic_store_n(&v->guest_cpu, cpu + 1, __ATOMIC_SEQ_CST);\n  if (__atomic_load_n",
            "__atomic_store_n(&v->guest_cpu, cpu, __ATOMIC_SEQ_CST);\n  if (__atomic_load_n")],
    tests=["irq/guest_mode", "irq/orders"])
bug("deadline_ns_as_tsc",
    "svm_prepare_entry passes the deadline in nanoseconds where lapic_deadline_arm wants a TSC value",
    edits=[(I, "    lapic_deadline_arm(ns_to_tsc(v->run_deadline));\n  return 1;", "    lapic_deadline_arm(v->run_deadline);\n  return 1;")],
    tests=["irq/deadline_armed"])
# Re-injection lives in lab 4's svm_after_exit; lab 5 depends on it for every event it injects.
bug("no_reinjection",
    "an event whose delivery an exit cut short (EXITINTINFO) is dropped",
    edits=[(R, "    c->eventinj = c->exitintinfo;\n", "    c->eventinj = 0;\n")],
    tests=["irq/reinject"])
bug("reinject_as_intr",
    "the cut-short event is re-injected as an external interrupt, whatever its type",
    edits=[(R, "    c->eventinj = c->exitintinfo;\n",
            "    c->eventinj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_INTR | (c->exitintinfo & 0xFF);\n")],
    tests=["irq/reinject"])
bug("reinject_no_error_code",
    "the cut-short event is re-injected without its error code",
    edits=[(R, "    c->eventinj = c->exitintinfo;\n",
            "    c->eventinj = c->exitintinfo & 0xFFFFFFFFu & ~(uint64)SVM_EVTINJ_VALID_ERR;\n")],
    tests=["irq/reinject"])

# ---- correct variants: each must keep every point of the lab (tools/bugs.py runs the whole lab) ----
# A correct variant regrades only the tests that reach the code it changes (the
# whole lab took about 20 s a variant): the window's tests, the entry's ordering and
# timing tests, the waking tests.
WINDOW_TESTS = ["irq/window_open", "irq/window_tpr", "irq/window_close", "irq/inject_shadow",
                "irq/eventinj_first", "irq/vmm_virq", "irq/random", "irq/window", "irq/irq_window_if"]
ENTRY_TESTS = ["irq/guest_mode", "irq/requests", "irq/deadline_armed", "irq/orders", "irq/random",
               "irq/deadlines", "irq/kick", "irq/second", "irq/irq_timer"]
WAKE_TESTS = ["irq/wake_events", "irq/ipis", "irq/orders", "irq/kick", "irq/second", "irq/wakeup",
              "irq/halt_cpu", "irq/count", "irq/irq_timer", "irq/irq_echo"]

variant("window_ign_tpr_prio0",
        "the window's V_IRQ has V_IGN_TPR and priority 0: with V_IGN_TPR the priority is never compared",
        edits=[(I, "| V_IRQ | V_IGN_TPR |\n               ((uint64)0xF << V_INTR_PRIO_SHIFT);\n  c->intercepts",
                "| V_IRQ | V_IGN_TPR;\n  c->intercepts")],
        tests=WINDOW_TESTS)
variant("window_all_dirty",
        "opening and closing the window mark every clean bit dirty (more reloading than needed, still right)",
        edits=[(I, "  c->intercepts[INTERCEPT_WORD_MISC1] |= INTERCEPT_VINTR;\n  vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_INTR);\n"
                   "  vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_INTERCEPTS);\n",
                "  c->intercepts[INTERCEPT_WORD_MISC1] |= INTERCEPT_VINTR;\n  vmcb_mark_all_dirty(v->vmcb);\n"),
               (I, "  c->intercepts[INTERCEPT_WORD_MISC1] &= ~INTERCEPT_VINTR;\n  vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_INTR);\n"
                   "  vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_INTERCEPTS);\n",
                "  c->intercepts[INTERCEPT_WORD_MISC1] &= ~INTERCEPT_VINTR;\n  vmcb_mark_all_dirty(v->vmcb);\n")],
        tests=WINDOW_TESTS)
variant("entry_checks_kick_twice",
        "KVM's vcpu_enter_guest: a cheap look at the requests first, then guest mode, then the look that counts",
        edits=[(I, ENTRY_KICK, "  if (__atomic_load_n(&v->kick, __ATOMIC_SEQ_CST) || v->halted)\n    return 0;\n" + ENTRY_KICK)],
        tests=ENTRY_TESTS)
variant("entry_deadline_first",
        "the deadline timer is armed before guest mode is entered (an early timer only costs an exit)",
        edits=[(I, ENTRY_KICK + "  inject_pending_event(v);\n  if (v->run_deadline)\n"
                   "    lapic_deadline_arm(ns_to_tsc(v->run_deadline));\n  return 1;",
                "  if (v->run_deadline)\n    lapic_deadline_arm(ns_to_tsc(v->run_deadline));\n" + ENTRY_KICK +
                "  inject_pending_event(v);\n  return 1;")],
        tests=ENTRY_TESTS)
variant("kick_ipi_after_release",
        "vcpu_kick reads guest_cpu after releasing halt_lock: still after the request is stored",
        edits=[(H, "  wakeup(&halt_chan);\n  int cpu = __atomic_load_n(&v->guest_cpu, __ATOMIC_SEQ_CST);\n  release(&halt_lock);\n  kick_cpu(cpu);",
                "  wakeup(&halt_chan);\n  release(&halt_lock);\n  kick_cpu(__atomic_load_n(&v->guest_cpu, __ATOMIC_SEQ_CST));")],
        tests=WAKE_TESTS)
variant("line_wakeup_after_release",
        "vcpu_set_irq_line stores the line under halt_lock and wakes after releasing it: a sleeper that "
        "checked under the lock is asleep by then",
        edits=[(H, LINE, "  acquire(&halt_lock);\n  v->irq_line = vector;\n"
                         "  int cpu = __atomic_load_n(&v->guest_cpu, __ATOMIC_SEQ_CST);\n  release(&halt_lock);\n"
                         "  if (vector) {\n    wakeup(&halt_chan);\n    kick_cpu(cpu);\n  }\n")],
        tests=WAKE_TESTS)
