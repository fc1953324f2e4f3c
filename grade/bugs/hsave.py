# Lab 1 (hsave): plausible student mistakes in kern/svm/hsave.c's regions, each
# of which must lose points (tools/bugs.py; format in grade/bugs/bugs.py).
H = "kern/svm/hsave.c"

# ---- detection (svm_detect) ---------------------------------------------------
bug("svm_bit_in_edx", "reads the SVM bit from EDX of 8000_0001h instead of ECX",
    edits=[(H, "f->svm = (cpuid(CPUID_EXT_FEATURES, 0).ecx", "f->svm = (cpuid(CPUID_EXT_FEATURES, 0).edx")],
    tests=["hsave/no_svm"])
bug("no_return_without_svm", "forgets to stop when CPUID says there is no SVM",
    edits=[(H, '  if (!f->svm)\n    return "no SVM (CPUID 8000_0001h ECX bit 2 clear)";\n', "")],
    tests=["hsave/no_svm"])
bug("nasids_minus_host", "stores EBX-1 as the ASID count (leaves out the host's ASID 0)",
    edits=[(H, "f->nasids = r.ebx;", "f->nasids = r.ebx - 1;")],
    tests=["hsave/features_max"])
bug("features_from_ecx", "stores ECX of leaf 8000_000Ah as the feature bits",
    edits=[(H, "f->edx = r.edx;", "f->edx = r.ecx;")],
    tests=["hsave/features_max"])
bug("npt_not_required", "accepts a CPU without nested paging",
    edits=[(H, '  if (!svm_has(SVM_FEAT_NP))\n    return "no nested paging (CPUID 8000_000Ah EDX bit 0 clear)";\n', "")],
    tests=["hsave/no_npt"])
bug("npt_bit_wrong", "tests nested paging with the NRIPS bit",
    edits=[(H, "if (!svm_has(SVM_FEAT_NP))", "if (!svm_has(SVM_FEAT_NRIPS))")],
    tests=["hsave/features_max"])

# ---- save areas (svm_alloc_save_areas) -----------------------------------------
bug("one_save_area", "allocates one save area and gives it to every CPU",
    edits=[(H, "sd->save_area = kalloc();", "sd->save_area = i ? svm_data[0].save_area : kalloc();")],
    tests=["hsave/hsave_2cpu"])
bug("save_area_va", "writes the kernel virtual address to VM_HSAVE_PA (no V2P)",
    edits=[(H, "sd->save_area_pa = V2P(sd->save_area);", "sd->save_area_pa = (uint64)sd->save_area;")],
    tests=["hsave/hsave_1cpu"])
bug("unwind_keeps_fields", "frees the pages on failure but leaves save_area/save_area_pa set",
    edits=[(H, "        svm_data[i].save_area = NULL;\n        svm_data[i].save_area_pa = 0;\n", "")],
    tests=["hsave/nomem"])
bug("no_unwind", "returns -ENOMEM without freeing what it allocated",
    edits=[(H, "      while (--i >= 0) {", "      while (0) {")],
    tests=["hsave/nomem"])

# ---- setup ------------------------------------------------------------------------
bug("setup_silent", "records the reason but never prints 'svm: unavailable'",
    edits=[(H, '  if (unavailable)\n    printf("svm: unavailable: %s\\n", unavailable);\n', "")],
    tests=["hsave/no_svm", "hsave/no_npt"])

# ---- enable -------------------------------------------------------------------------
bug("efer_overwritten", "writes EFER = SVME, dropping LME/LMA/NXE/SCE",
    edits=[(H, "wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);", "wrmsr(MSR_EFER, EFER_SVME);")],
    tests=["hsave/hsave_1cpu"])
bug("no_hsave_write", "sets EFER.SVME but never writes VM_HSAVE_PA",
    edits=[(H, "  wrmsr(MSR_VM_HSAVE_PA, sd->save_area_pa);\n", "")],
    tests=["hsave/hsave_1cpu"])
bug("bsp_data_everywhere", "uses svm_data[0] instead of this CPU's entry",
    edits=[(H, "  struct svm_cpu_data *sd = svm_cpu_self();\n  sd->enabled = 0;",
            "  struct svm_cpu_data *sd = &svm_data[0];\n  sd->enabled = 0;")],
    tests=["hsave/hsave_2cpu"])
bug("compat_revision_only", "compares only the revision of each CPU",
    edits=[(H, "(r.eax & 0xFF) == f->revision && r.ebx == f->nasids && r.edx == f->edx",
            "(r.eax & 0xFF) == f->revision")],
    tests=["hsave/compat"])
bug("enable_all_ignores_failures", "svm_hardware_enable_all returns 0 whatever happened",
    edits=[(H, "    if (smp_call(i, enable_here, NULL) != 0 || !svm_data[i].enabled)\n      bad = 1;",
            "    smp_call(i, enable_here, NULL);")],
    tests=["hsave/compat"])
bug("enable_all_skips_bsp", "svm_hardware_enable_all starts at CPU 1",
    edits=[(H, "  for (int i = 0; i < ncpu; i++) {\n    if (!cpu_online(i))",
            "  for (int i = 1; i < ncpu; i++) {\n    if (!cpu_online(i))")],
    tests=["hsave/disable"])

# ---- disable ------------------------------------------------------------------------
bug("disable_keeps_svme", "svm_hardware_disable zeroes VM_HSAVE_PA but leaves EFER.SVME set",
    edits=[(H, "  wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~EFER_SVME);\n", "")],
    tests=["hsave/disable"])
bug("disable_efer_zero", "svm_hardware_disable writes EFER = 0",
    edits=[(H, "wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~EFER_SVME);", "wrmsr(MSR_EFER, 0);")],
    tests=["hsave/disable"])
bug("disable_keeps_hsave", "svm_hardware_disable leaves VM_HSAVE_PA pointing at the save area",
    edits=[(H, "  wrmsr(MSR_VM_HSAVE_PA, 0);\n", "")],
    tests=["hsave/disable"])
bug("disable_keeps_enabled", "svm_hardware_disable leaves svm_data.enabled at 1",
    edits=[(H, "  sd->enabled = 0;\n  // LAB 1 STUB", "  (void)sd;\n  // LAB 1 STUB")],
    tests=["hsave/disable"])
bug("disable_all_no_smp_call", "svm_hardware_disable_all calls svm_hardware_disable directly in its loop (always on the calling CPU)",
    edits=[(H, "        smp_call(i, disable_here, NULL);", "        disable_here(NULL);")],
    tests=["hsave/disable"])
bug("disable_all_off_by_one", "svm_hardware_disable_all stops one CPU short",
    edits=[(H, "  if (!panicked)\n    for (int i = 0; i < ncpu; i++)",
            "  if (!panicked)\n    for (int i = 0; i < ncpu - 1; i++)")],
    tests=["hsave/disable"])

# ---- availability ------------------------------------------------------------------
bug("reason_ignores_cpus", "svm_unavailable_reason only reports the setup reason",
    edits=[(H, '  for (int i = 0; i < ncpu; i++)\n    if (!svm_data[i].enabled)\n      return "SVM not enabled on every CPU',
            '  for (int i = 0; i < 0; i++)\n    if (!svm_data[i].enabled)\n      return "SVM not enabled on every CPU')],
    tests=["hsave/disable"])
bug("reason_bsp_only", "svm_unavailable_reason looks at CPU 0 only",
    edits=[(H, '  for (int i = 0; i < ncpu; i++)\n    if (!svm_data[i].enabled)\n      return "SVM not enabled on every CPU',
            '  for (int i = 0; i < 1; i++)\n    if (!svm_data[i].enabled)\n      return "SVM not enabled on every CPU')],
    tests=["hsave/disable"])
bug("compat_skips_svmdis_and_leaf", "the per-CPU check looks only at the SVM bit",
    edits=[(H, "  struct cpuid_regs r = cpuid(CPUID_SVM_LEAF, 0);\n  return (r.eax & 0xFF) == f->revision && r.ebx == f->nasids && r.edx == f->edx;",
            "  return f->svm;")],
    tests=["hsave/compat"])
bug("reason_null_when_unavailable", "svm_unavailable_reason checks the CPUs but forgets the setup reason",
    edits=[(H, "  if (unavailable)\n    return unavailable;\n  for (int i = 0; i < ncpu; i++)\n    if (!svm_data[i].enabled)",
            "  for (int i = 0; i < ncpu; i++)\n    if (!svm_data[i].enabled)")],
    tests=["hsave/no_svm", "hsave/no_npt"])

# A correct variant regrades only the tests that reach the code it changes (the
# whole lab took about 6 s a variant): every variant here is in the enable/disable paths.
HSAVE_TESTS = ["hsave/hsave_1cpu", "hsave/hsave_2cpu", "hsave/hsave_4cpu", "hsave/disable", "hsave/nomem",
               "hsave/random_orders", "hsave/compat"]

# ---- correct variants: other orders and KVM's choices; each keeps every point ------
variant("hsave_pa_before_svme",
        "writes VM_HSAVE_PA first, then sets EFER.SVME (the MSR does not depend on SVME)",
        edits=[(H, "  wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);\n  wrmsr(MSR_VM_HSAVE_PA, sd->save_area_pa);\n",
                "  wrmsr(MSR_VM_HSAVE_PA, sd->save_area_pa);\n  wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);\n")],
        tests=HSAVE_TESTS)
variant("disable_svme_then_hsave",
        "clears EFER.SVME first, then zeroes VM_HSAVE_PA (KVM zeroes VM_HSAVE_PA first)",
        edits=[(H, "  wrmsr(MSR_VM_HSAVE_PA, 0);\n  wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~EFER_SVME);\n",
                "  wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~EFER_SVME);\n  wrmsr(MSR_VM_HSAVE_PA, 0);\n")],
        tests=HSAVE_TESTS)
variant("disable_this_cpu_first",
        "svm_hardware_disable_all turns this CPU off first, then the others",
        edits=[(H, "  if (!panicked)\n    for (int i = 0; i < ncpu; i++)\n      if (i != cpuid_self() && cpu_online(i))\n"
                   "        smp_call(i, disable_here, NULL);\n  svm_hardware_disable();\n",
                "  svm_hardware_disable();\n  if (!panicked)\n    for (int i = 0; i < ncpu; i++)\n"
                "      if (i != cpuid_self() && cpu_online(i))\n        smp_call(i, disable_here, NULL);\n")],
        tests=HSAVE_TESTS)
variant("enable_all_here_directly",
        "svm_hardware_enable_all enables this CPU by a direct call, the others through smp_call",
        edits=[(H, "    if (smp_call(i, enable_here, NULL) != 0 || !svm_data[i].enabled)",
                "    if (i == cpuid_self())\n      svm_hardware_enable();\n"
                "    else if (smp_call(i, enable_here, NULL) != 0)\n      bad = 1;\n    if (!svm_data[i].enabled)")],
        tests=HSAVE_TESTS)
variant("save_areas_high_to_low",
        "allocates the save areas from the last CPU down (and unwinds upward)",
        edits=[(H, "  for (int i = 0; i < NCPU; i++) {\n    struct svm_cpu_data *sd = &svm_data[i];\n    sd->cpu = i;",
                "  for (int i = NCPU - 1; i >= 0; i--) {\n    struct svm_cpu_data *sd = &svm_data[i];\n    sd->cpu = i;"),
               (H, "      while (--i >= 0) {", "      while (++i < NCPU) {")],
        tests=HSAVE_TESTS)
variant("enabled_from_locals",
        "reads both MSRs back into locals first and compares afterwards",
        edits=[(H, "  uint64 hsave = rdmsr(MSR_VM_HSAVE_PA);\n  sd->enabled = (rdmsr(MSR_EFER) & EFER_SVME) && hsave == sd->save_area_pa && hsave != 0;",
                "  uint64 efer = rdmsr(MSR_EFER), hsave = rdmsr(MSR_VM_HSAVE_PA);\n"
                "  sd->enabled = hsave != 0 && hsave == sd->save_area_pa && (efer & EFER_SVME) != 0;")],
        tests=HSAVE_TESTS)

# ---- caught by the randomized orders (hsave_random) and by no fixed case ----------
bug("efer_written_as_boot_value", "enable writes EFER from the bits the kernel boots with (SCE, LME, LMA, NXE) "
    "plus SVME instead of reading it: a bit someone changed since is lost",
    edits=[(H, "  wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);",
            "  wrmsr(MSR_EFER, EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE | EFER_SVME);")],
    tests=["hsave/random_orders"])
bug("disable_efer_as_boot_value", "disable writes EFER = SCE | LME | LMA | NXE instead of clearing SVME alone",
    edits=[(H, "  wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~EFER_SVME);",
            "  wrmsr(MSR_EFER, EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE);")],
    tests=["hsave/random_orders"])

# ---- found by a fresh-eyes trial ----------------------------------------------------
bug("no_max_leaf_check", "reads leaf 8000_000Ah without checking 8000_0000h EAX (the leaf may not exist)",
    edits=[(H, '  if (cpuid(0x80000000, 0).eax < CPUID_SVM_LEAF)\n    return "no CPUID leaf 8000_000Ah";\n', "")],
    tests=["hsave/no_svm_leaf"])
