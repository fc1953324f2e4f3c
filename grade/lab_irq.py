"""Lab 5 (irq): the external interrupt line, the interrupt window, HLT and
deadlines (kern/svm/irq.c, kern/svm/halt.c), plus the written answers.

Part A, injection (irq.c), and part B, halting and waking (halt.c), are each
graded twice: by ktests on a vcpu that never runs (kern/svm/irq_test.c: the
decisions themselves, including what QEMU cannot show, such as the interrupt
shadow at entry or the IPI to a running vcpu), and by user/irqtest.c on the
guest kirq.guest (user/guests/kirq.S): exact interrupt counts, the window
after a long IF=0 stretch and after STI's shadow, a halted vcpu that uses no
CPU, deadlines, kicks, kill and console wakeups.
  ktest=irq_decide     svm_interrupt_allowed, inject, window, completion
  ktest=irq_halt       HLT, events, requests, the deadline timer, IPIs, orders
  ktest=irq_random     seeded random schedules against the rules (irqseed=N replays)
  test=irqtest NAME    count, window, if0, event, deadline, kick, cpu, kill, console,
                       second, reinject, wakeup (booted with halt_widen=US)
Each test names the checks it is for ("ok: ..." / "irqtest: ok: ...") and
quotes the one that failed; besides, any check of its run that FAILs fails it
too: no failure is dropped, even one no test names.

The bottom section (guests and device models through the VMM) belongs to the
VMM side of issue 11.
"""
import os
import re

from gradelib import test
import answers as answers_file
from timer_guest import check_timer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def no_failures(r, prefix):
    """Any failed check in the run fails the test, named or not."""
    r.reject(r"^" + re.escape(prefix) + r"FAIL: ", "a check of this run failed")


def finished(r, ktest):
    """Waits for the end of the ktest; a panic or a stub fails at once."""
    r.reject(r"^panic: ")
    r.reject(r"^lab \d: .* not implemented")
    r.expect(r"^ktest %s: \d+ checks" % ktest)


def rule(r, prefix, text):
    """The check whose message starts with text passed (the run is over)."""
    if r.find(r"^" + re.escape(prefix) + r"ok: " + re.escape(text)):
        return
    m = r.find(r"^" + re.escape(prefix) + r"FAIL: " + re.escape(text) + r".*$")
    r.fail("expected the check '%sok: %s...'\n  but saw: %s"
           % (prefix, text, m.group(0) if m else "no such check in the output"))


def rules(r, ktest, *texts):
    finished(r, ktest)
    for t in texts:
        rule(r, "", t)
    no_failures(r, "")


def user(r, name, *texts):
    """test=irqtest NAME ended (passed or not); the checks texts passed."""
    r.reject(r"^panic: ")
    r.reject(r"^lab \d: .* not implemented")
    r.expect(r"^irqtest: %s: (passed|FAILED)$|^init: test irqtest exited" % name)
    for t in texts:
        rule(r, "irqtest: ", t)
    no_failures(r, "irqtest: ")


def ktest_rule(name, points, title, ktest, *texts):
    def run(r):
        rules(r, ktest, *texts)
    test(points=points, title=title, cmdline="ktest=" + ktest, cpus=2, timeout=40, name=name)(run)


def user_rule(name, points, title, cmdline, sub, *texts, timeout=60, send=None):
    def run(r):
        if send:
            r.expect(send[0])
            r.send(send[1])
        user(r, sub, *texts)
    test(points=points, title=title, cmdline=cmdline, cpus=2, timeout=timeout, name=name)(run)


# ---- Part A: injection (irq.c) ------------------------------------------------

ktest_rule("allowed_if", 4, "A: interrupts only with the guest's IF=1", "irq_decide",
           "allowed: IF=1, no shadow, EVENTINJ free", "not allowed with the guest's IF=0")
ktest_rule("allowed_shadow", 5, "A: no interrupt in an interrupt shadow (int_state bit 0, not bit 1)", "irq_decide",
           "not allowed in an interrupt shadow", "int_state bit 1 (the guest's mask) is not the shadow")
ktest_rule("allowed_eventinj", 4, "A: no interrupt while EVENTINJ holds an event", "irq_decide",
           "not allowed while EVENTINJ holds an event")
ktest_rule("inject_inta", 6, "A: the line's vector goes into EVENTINJ, and that is the INTA", "irq_decide",
           "IF=1: the line's vector goes into EVENTINJ as an external interrupt",
           "the injection is the INTA", "no window when the vector went in directly")
ktest_rule("one_inta", 3, "A: one INTA per vcpu_run", "irq_decide", "one INTA per vcpu_run")
ktest_rule("inject_shadow", 4, "A: IF=1 in an interrupt shadow: the entry opens a window, injects nothing", "irq_decide",
           "IF=1 in an interrupt shadow: nothing injected, a window instead")
ktest_rule("guest_mode", 4, "A: the entry marks guest mode (CPU + 1) and stays out when a kick came first", "irq_decide",
           "entering marks guest mode", "a kick already requested: the entry returns 0")
ktest_rule("window_open", 6, "A: IF=0 opens an interrupt window (V_IRQ + VINTR intercept), clean bits cleared", "irq_decide",
           "IF=0: nothing injected, the line stays", "IF=0: a window",
           "opening it marks the intercepts and the interrupt control dirty")
ktest_rule("window_tpr", 3, "A: the window opens whatever the guest's TPR (§15.21.4)", "irq_decide",
           "the window opens whatever the guest's TPR")
ktest_rule("window_close", 4, "A: the exit closes the window, clean bits cleared", "irq_decide",
           "after the exit the window is closed", "closing it marks the intercepts and the interrupt control dirty")
ktest_rule("eventinj_first", 4, "A: an event already in EVENTINJ goes first; the line waits behind a window", "irq_decide",
           "an event in EVENTINJ goes first")
ktest_rule("random", 8, "A+B: 3000 seeded random entry decisions (line, kicks, deadlines, IF, shadows, CR8, "
           "EVENTINJ, the VMM's V_IRQ) follow the rules; the seed is printed", "irq_random",
           "random entry decisions followed the rules")
ktest_rule("vmm_virq", 3, "A: a V_IRQ the VMM queued is left alone", "irq_decide",
           "a V_IRQ the VMM queued survives entry and exit")

user_rule("count", 8, "A: 2000 line interrupts, each taken exactly once and acked", "test=irqtest count 2000", "count",
          "the guest took 2000 line interrupts and 2000 were acked", "2000 EOIs, 0 interrupts on other vectors")
user_rule("window", 8, "A: a vector asserted during IF=0 comes right after sti and its shadow", "test=irqtest window", "window",
          "guest ended with code 0 after 1 interrupts",
          "the interrupt came after 200000 of 200000 iterations with IF=0",
          "the instruction in the STI shadow ran before the interrupt",
          "the interrupt came 0 loop iterations after the shadow")
user_rule("if0_hlt", 4, "A: HLT with IF=0 and the line asserted: VM_EXIT_HLT, nothing delivered", "test=irqtest if0", "if0",
          "HLT with IF=0 returns VM_EXIT_HLT", "nothing delivered, not halted")
user_rule("reinject", 4, "A: an exception with an error code, injected into a halted vcpu and cut short by an NPF, "
          "arrives intact", "test=irqtest reinject", "reinject", "the guest halts in the kernel", "the #GP's delivery onto the unmapped stack takes an NPF",
          "the interrupted #GP was delivered again, once", "as an exception with its error code")
user_rule("event_wake", 5, "A: a halted vcpu wakes for EVENTINJ, which goes before the line", "test=irqtest event", "event",
          "a halted guest returns at its deadline, halted",
          "the halted vcpu woke for the event in EVENTINJ", "the line's vector came too, after it")

# ---- Part B: halting and waking (halt.c) ---------------------------------------

ktest_rule("halt_if", 5, "B: HLT waits in the kernel only with IF=1", "irq_halt",
           "HLT with IF=0 goes to user space, not halted", "HLT with IF=1 waits in the kernel")
ktest_rule("wake_events", 5, "B: what wakes a halted vcpu: the line (once per run), EVENTINJ, the VMM's V_IRQ", "irq_halt",
           "a vcpu with nothing pending has no events", "the line is an event", "not once this run took a vector",
           "an event in EVENTINJ (an NMI) is an event", "the VMM's own V_IRQ is an event")
ktest_rule("halted_not_entered", 2, "B: a halted vcpu is not entered", "irq_halt", "a halted vcpu is not entered")
ktest_rule("requests", 4, "B: a kick ends one run; a passed deadline ends the run", "irq_halt",
           "a kick ends the run once", "without requests the vcpu enters", "a deadline passed ends the run")
ktest_rule("deadline_armed", 4, "B: entering with a deadline arms the CPU's timer", "irq_halt",
           "entering with a deadline arms this CPU's timer for it")
ktest_rule("ipis", 4, "B: kicking or asserting the line of a running vcpu IPIs its CPU", "irq_halt",
           "vcpu_kick of a vcpu in guest mode on cpu", "asserting its line sends one IPI too",
           "each IPI goes out after the request it is for is stored")
ktest_rule("orders", 6, "B: the kick protocol's orders: guest mode before the request check, the request before the guest-mode read",
           "irq_halt", "the entry reads the kick request after marking guest mode",
           "vcpu_kick reads guest_cpu after storing the request", "vcpu_set_irq_line reads guest_cpu after storing the line")

user_rule("deadlines", 5, "B: deadlines: a halted guest returns at each, none early", "test=irqtest deadline 100", "deadline",
          "halted: every run ended at its deadline", "spinning: every run ended at its deadline, none early",
          timeout=90)
user_rule("kick", 5, "B: kicks before and during a run; a child's vcpu_irq wakes a halted vcpu", "test=irqtest kick", "kick",
          "a kick before vcpu_run: VM_EXIT_KICK", "the kick is used up", "a child's kick ended 10 of 10 runs",
          "a child's vcpu_irq woke the halted vcpu", "it came after", "a child's kick woke the halted vcpu",
          timeout=90)
user_rule("second", 4, "B: a second vector while halted ends the run (VM_EXIT_INTR), then is delivered", "test=irqtest second",
          "second", "a second vector while halted ends the run", "that run reports the first INTA",
          "the second vector is delivered by the next run", timeout=60)
user_rule("wakeup", 5, "B: a vcpu_irq racing with a vcpu going to sleep wakes it (race window widened to 30 ms)",
          "test=irqtest wakeup 5 halt_widen=30000", "wakeup", "0 of 5 vcpu_irq wakeups", timeout=60)
user_rule("halt_cpu", 6, "B: a halted guest uses no host CPU (a ticker on its CPU keeps its rate)", "test=irqtest cpu", "cpu",
          "the ticker kept at least 65% of its rate", "the halted guest used no CPU", timeout=90)
user_rule("kill", 5, "B: killing a VMM blocked in HLT ends it at once and frees every page", "test=irqtest kill", "kill",
          "the child's vcpu halted in the kernel", "a process blocked in HLT died",
          "every page came back")
user_rule("console", 5, "B: console input wakes a halted vcpu only with VM_RUN_WAKE_CONSOLE; cons_read", "test=irqtest console",
          "console", "no input waiting: the run ends at its deadline", "input woke the halted vcpu",
          "without VM_RUN_WAKE_CONSOLE, waiting input does not end the run", "cons_read returned 2 bytes",
          "cons_read with nothing waiting returns 0", "an unknown run flag: -EINVAL",
          send=(r"^irqtest: console: type ab$", "ab"))

# ---- written answers -------------------------------------------------------------

QUESTIONS = 5


@test(points=2, title="answers-lab5.txt answers every question of labs/lab5-irq.md",
      cpus=1, boot=False)
def answers(r):
    answers_file.check(r, 5, QUESTIONS)


# ---- guests and the VMM's chips (helper irqv: user/vmm/loop.c, pic.c, pit.c,
# uart.c, rtc.c, ports.c; guests user/guests/timer, window, nested, echo,
# haltif0). The VMM's event loop puts the 8259A's output on the vcpu's line
# (vcpu_irq), does the INTA when the kernel reports irq_acked, and sleeps the
# vcpu to the 8254's next edge (deadline_ns). The chips alone are graded by
# the extra lab `devices` (user/devtest.c), which needs no lab 5 kernel.

def vmm_clean(r):
    r.reject(r"^panic: ")
    r.reject(r"^pid \d+ \(vmm\): killed")
    r.reject(r"vmm: INTA: the vcpu took vector")


def taken(r):
    """The VMM's count of interrupts the vcpu took (irq_acked reports)."""
    return int(r.expect(r"^vmm: interrupts taken (\d+); clock and input exits: ").group(1))


@test(points=8, title="timer guest: 1 kHz PIT through the PIC, sti;hlt idle: 2000 ticks in 2 RTC "
      "seconds (1 %), a 1000-tick sleep lasts 1 s (5 %), every tick counted once",
      cmdline="test=vmm timer", timeout=60)
def irq_timer(r):
    vmm_clean(r)
    check_timer(r, taken)
    r.expect(r"^vmm: guest timer exited with code 0 after \d+ exits ")
    r.expect_exit(0)


def window_line(r):
    return r.expect(r"^window: taken with IF=0: (\d+); in a shadow: (\d+); shadowed faults: "
                    r"(\d+); interrupts: (\d+)$")


@test(points=8, title="window guest: no interrupt with IF=0; ticks held back by 3 ms IF=0 "
      "stretches arrive late, none lost (2000 in 2 s, 1 %)", cmdline="test=vmm -e 0 window",
      timeout=60)
def irq_window_if(r):
    vmm_clean(r)
    m = window_line(r)
    r.check(m.group(1) == "0", "%s interrupts were delivered while the guest had IF=0 "
            "(EVENTINJ ignores RFLAGS.IF: check it before injecting)" % m.group(1))
    n = [int(x.group(1)) for x in r.findall(r"^window: 2 rtc seconds: (\d+) ticks$")]
    r.check(any(1980 <= x <= 2020 for x in n), "expected 2000 +/- 1%% ticks in two RTC seconds "
            "despite the IF=0 stretches, the guest counted %s" % n)
    k = taken(r)
    r.check(int(m.group(4)) == k, "the guest's handler ran %s times, the vcpu took %d "
            "interrupts" % (m.group(4), k))


@test(points=6, title="nested guest: IRQ0 nests inside IRQ4; IRQ4 waits for IRQ0's EOI "
      "(8259A priorities through the vcpu's line)", cmdline="test=vmm nested", timeout=40)
def irq_nested(r):
    vmm_clean(r)
    m = r.expect(r"^nested: irq0 (\d+), irq4 (\d+), failed checks (\d+)(, first check \d+)?$")
    r.check(m.group(3) == "0", "the guest's check %s failed (see user/guests/nested.S, "
            "FAILED n)" % (m.group(4) or "").replace(", first check ", ""))
    r.check(taken(r) == 4, "exactly 4 interrupts (2 IRQ0, 2 IRQ4) expected")
    r.expect(r"^vmm: guest nested exited with code 0 after \d+ exits ")
    r.expect_exit(0)


@test(points=6, title="echo guest: console input reaches the 16550A's FIFO and IRQ4; the "
      "echo appears at once; Ctrl-D ends it", cmdline="test=vmm echo", timeout=40)
def irq_echo(r):
    vmm_clean(r)
    r.wait_for(r"^echo: type; Ctrl-D ends$")
    r.send("svm lab\r")
    r.wait_for(r"svm lab", partial=True)
    r.send("\x04")
    r.wait_for(r"^echo: 8 bytes$")
    m = r.wait_for(r"^vmm: interrupts taken (\d+); clock and input exits: deadline=\d+, kick=\d+, "
                   r"console=(\d+) \((\d+) bytes\)$")
    r.check(m.group(3) == "9", "the VMM should have read 9 console bytes, it read %s" % m.group(3))
    r.expect(r"^vmm: guest echo exited with code 0 after \d+ exits ")
    r.expect_exit(0)


@test(points=4, title="haltif0 guest: sleeps 50 ticks in sti;hlt, then HLT with IF=0 stops it "
      "(VM_EXIT_HLT, no blocking forever)", cmdline="test=vmm -e halt haltif0", timeout=30)
def irq_haltif0(r):
    vmm_clean(r)
    n = int(r.expect(r"^haltif0: (\d+) ticks in sti;hlt, now cli;hlt$").group(1))
    r.check(n >= 50, "the guest left its sti;hlt loop after %d ticks, not 50" % n)
    r.expect(r"^vmm: guest haltif0 halted after \d+ exits \(io=\d+, cpuid=0, msr=0, hlt=1, "
             r"vmmcall=0, npf=0, exc=0, other=0; intr=\d+\)$")
    k = taken(r)
    r.check(k == n, "the guest took %d ticks, the vcpu %d interrupts" % (n, k))
    r.reject(r"woke up")
    r.expect_exit(0)
