// KVM's paravirtual interface (kvmpv.c) and the x2APIC MSR front end
// (x2apic.c), offered with `vmm -p on`.
#pragma once
#include "lapic.h"

struct guest;
int kvmpv_wanted(const struct guest *g);                     // -p on, or a bzImage with -A and no -p off
int kvmpv_setup(struct guest *g);                            // measures the TSC, resets the state
int kvmpv_on(const struct guest *g);                         // the guest is offered the interface
void kvmpv_cpuid(struct guest *g, uint32 leaf, uint32 *r);   // KVM's leaves, x2APIC and TSC-deadline
int kvmpv_msr(struct guest *g, uint32 msr, int write, uint64 *v);   // 1 done, 0 #GP, -1 not ours
int kvmpv_hypercall(struct guest *g);                        // VMMCALL with KVM's numbers
void kvmpv_before_run(struct guest *g);                      // PV EOI: arm the guest's flag
void kvmpv_after_run(struct guest *g);                       // PV EOI: an EOI the guest did in memory
void kvmpv_report(struct guest *g);                          // vmm -s
// x2apic.c
int x2apic_msr(struct lapic *a, uint32 msr, int write, uint64 *v, uint64 now);
int x2apic_base_ok(uint64 old, uint64 v);
int x2apic_ipi_reaches(const struct lapic *from, const struct lapic *to, uint32 lo);   // -1: xAPIC rules
