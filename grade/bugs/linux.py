# Lab 6 (linux): plausible mistakes in the boot-protocol loader
# (user/vmm/bzimage.c), each of which must lose points (tools/bugs.py).
# Parts: A header checks (caught by the broken-image table), B initrd
# placement, C zero page and e820 map, D the 64-bit entry state (caught by
# booting Debian's kernel).
Z = "user/vmm/bzimage.c"
BAD = ["linux/bad_images"]
BOOT = ["linux/boot"]

# ---- A: header checks ----------------------------------------------------

bug("no_truncation_check",
    "reads the header without checking the file is long enough to hold it",
    edits=[(Z, "  if (n < HDR_END)\n    return \"truncated: shorter than the setup header\";\n", "")],
    tests=BAD)

bug("magic_at_0x200",
    "looks for \"HdrS\" at 0x200 (the jump) instead of 0x202",
    edits=[(Z, "u32at(h, HDR_MAGIC) != HDRS_MAGIC", "u32at(h, HDR_JUMP) != HDRS_MAGIC")],
    tests=BAD)

bug("no_boot_flag_check",
    "trusts \"HdrS\" alone and never checks the 0xAA55 boot flag",
    edits=[(Z, "u16at(h, HDR_BOOT_FLAG) != 0xAA55 || ", "")],
    tests=BAD)

bug("version_2_12_as_hex",
    "writes protocol 2.12 as 0x0212 (it is 0x020C): Debian's 2.15 is refused",
    edits=[(Z, "if (u16at(h, HDR_VERSION) < 0x020C)", "if (u16at(h, HDR_VERSION) < 0x0212)")],
    tests=BAD)

bug("no_version_check",
    "accepts any protocol version (a 2.04 kernel has no xloadflags to trust)",
    edits=[(Z, "if (u16at(h, HDR_VERSION) < 0x020C)", "if (0)")],
    tests=BAD)

bug("loadflags_wrong_bit",
    "tests bit 1 of loadflags for LOADED_HIGH (it is bit 0)",
    edits=[(Z, "if (!(u8at(h, HDR_LOADFLAGS) & LOADED_HIGH))", "if (!(u8at(h, HDR_LOADFLAGS) & 0x02))")],
    tests=BAD)

bug("no_xloadflags_check",
    "enters at +0x200 without checking XLF_KERNEL_64 says a 64-bit entry is there",
    edits=[(Z, "  if (!(u16at(h, HDR_XLOADFLAGS) & XLF_KERNEL_64))\n"
               "    return \"xloadflags: no 64-bit entry point (XLF_KERNEL_64)\";\n", "")],
    tests=BAD)

bug("setup_sects_zero",
    "takes setup_sects = 0 literally (the protocol says it means 4)",
    edits=[(Z, "uint32 sects = u8at(h, HDR_SETUP_SECTS) ? u8at(h, HDR_SETUP_SECTS) : 4;",
            "uint32 sects = u8at(h, HDR_SETUP_SECTS);")],
    tests=BAD)

bug("setup_without_boot_sector",
    "forgets the boot sector: the kernel is read from 512 bytes too early",
    edits=[(Z, "b->setup_size = (sects + 1) * 512;", "b->setup_size = sects * 512;")],
    tests=BOOT)

bug("syssize_in_bytes",
    "reads syssize as bytes (it counts 16-byte paragraphs)",
    edits=[(Z, "uint64 sys = (uint64)u32at(h, HDR_SYSSIZE) * 16;", "uint64 sys = (uint64)u32at(h, HDR_SYSSIZE);")],
    tests=BAD)

bug("syssize_zero_ok",
    "accepts a syssize of 0",
    edits=[(Z, "if (sys == 0 || sys > b->kernel_size) {", "if (sys > b->kernel_size) {")],
    tests=BAD)

bug("alignment_unchecked",
    "never checks kernel_alignment is a power of two",
    edits=[(Z, "(align & (align - 1)) || ", "")],
    tests=BAD)

bug("relocatable_ignored",
    "loads a non-relocatable kernel at 1 MiB whatever its pref_address says",
    edits=[(Z, "if (!u8at(h, HDR_RELOCATABLE) && u64at(h, HDR_PREF_ADDRESS) != BZ_KERNEL)", "if (0)")],
    tests=BAD)

bug("init_size_unchecked",
    "believes an init_size smaller than the kernel itself",
    edits=[(Z, "  if (b->init_size < b->kernel_size)\n"
               "    return \"init_size: smaller than the kernel it has to hold\";\n", "")],
    tests=BAD)

bug("init_size_from_1mib",
    "takes the lower of load address and pref_address as the start of the init_size region",
    edits=[(Z, "base = pref > BZ_KERNEL ? pref : BZ_KERNEL;", "base = pref < BZ_KERNEL ? pref : BZ_KERNEL;")],
    tests=BAD)

bug("init_size_vs_ram",
    "compares init_size alone with guest RAM, not where the kernel's region ends",
    edits=[(Z, "if (base >= mem || b->kernel_end > mem) {", "if (b->init_size > mem) {")],
    tests=BAD)

# ---- B: initrd placement ----------------------------------------------------

bug("initrd_max_ignored",
    "puts the initrd at the top of RAM even above initrd_addr_max",
    edits=[(Z, "  if ((uint64)b->initrd_max + 1 < top)\n    top = (uint64)b->initrd_max + 1;\n", "")],
    tests=BAD)

bug("initrd_over_kernel",
    "never checks the initrd stays clear of the kernel's init_size region",
    edits=[(Z, "if (size == 0 || pages > top || ((top - pages) & ~4095UL) < b->kernel_end) {",
            "if (size == 0 || pages > top) {")],
    tests=BAD)

# ---- C: zero page and e820 --------------------------------------------------

bug("type_of_loader_zero",
    "leaves type_of_loader 0: Linux then ignores the initrd (an old loader)",
    edits=[(Z, "  zp[HDR_TYPE_OF_LOADER] = 0xFF;                 // an unregistered boot loader\n", "")],
    tests=BOOT)

bug("no_cmd_line_ptr",
    "never tells the kernel where the command line is",
    edits=[(Z, "  put32(zp, HDR_CMD_LINE_PTR, BZ_CMDLINE);\n", "")],
    tests=BOOT)

bug("no_ramdisk_size",
    "gives the initrd's address but not its size",
    edits=[(Z, "  put32(zp, HDR_RAMDISK_SIZE, initrd_size);\n", "")],
    tests=BOOT)

bug("e820_count_missing",
    "writes the e820 entries but not e820_entries",
    edits=[(Z, "  zp[BP_E820_ENTRIES] = 3;\n", "")],
    tests=BOOT)

bug("e820_16_byte_entries",
    "lays e820 entries 16 bytes apart (struct padding) instead of 20",
    edits=[(Z, "int off = BP_E820_TABLE + i * 20;", "int off = BP_E820_TABLE + i * 16;")],
    tests=BOOT)

bug("e820_end_as_size",
    "stores each range's end address where its size goes",
    edits=[(Z, "put64(zp, off + 8, end[i] - start[i]);", "put64(zp, off + 8, end[i]);")],
    tests=BOOT)

# ---- D: the 64-bit entry ----------------------------------------------------

bug("entry_startup_32",
    "jumps to the 32-bit entry (the load address) in 64-bit mode",
    edits=[(Z, "r->rip = BZ_KERNEL + 0x200;", "r->rip = BZ_KERNEL;")],
    tests=BOOT)

bug("no_rsi",
    "does not pass the zero page in RSI",
    edits=[(Z, "  r->rsi = BZ_ZEROPAGE;\n", "")],
    tests=BOOT)

bug("cs_not_64bit",
    "gives CS the attributes of a 32-bit code segment (no L bit)",
    edits=[(Z, "struct vm_seg code = {0x10, 0xA9B, 0xFFFFFFFF, 0};", "struct vm_seg code = {0x10, 0xC9B, 0xFFFFFFFF, 0};")],
    tests=BOOT)

bug("no_pae",
    "enables long mode without CR4.PAE",
    edits=[(Z, "r->cr4 = 0x20;                                      // PAE", "r->cr4 = 0;")],
    tests=BOOT)

# ---- A/B: caught by the random headers (linux/bzimage_random) --------------
RND = ["linux/bzimage_random"]

bug("alignment_no_upper_bound",
    "accepts any power of two as kernel_alignment, 2 GiB too",
    edits=[(Z, " || align > (1u << 30))", ")")],
    tests=RND)

bug("alignment_no_lower_bound",
    "accepts a kernel_alignment below a page (1 KiB, 2 KiB)",
    edits=[(Z, "if (align < 4096 || (align & (align - 1))", "if (align == 0 || (align & (align - 1))")],
    tests=RND)

bug("version_2_12_refused",
    "wants a protocol newer than 2.12 (<= instead of <): a 2.12 kernel is refused",
    edits=[(Z, "if (u16at(h, HDR_VERSION) < 0x020C)", "if (u16at(h, HDR_VERSION) <= 0x020C)")],
    tests=RND)

bug("syssize_against_file",
    "compares syssize with the whole file, setup sectors included",
    edits=[(Z, "if (sys == 0 || sys > b->kernel_size) {", "if (sys == 0 || sys > n) {")],
    tests=RND)

bug("loadflags_any_bit",
    "takes any loadflags bit for LOADED_HIGH",
    edits=[(Z, "if (!(u8at(h, HDR_LOADFLAGS) & LOADED_HIGH))", "if (!u8at(h, HDR_LOADFLAGS))")],
    tests=RND)

bug("initrd_max_is_size",
    "reads initrd_addr_max as the first byte past the initrd's room, then lets the initrd end one byte above it",
    edits=[(Z, "  if ((uint64)b->initrd_max + 1 < top)\n    top = (uint64)b->initrd_max + 1;\n",
            "  if ((uint64)b->initrd_max + 4096 < top)\n    top = (uint64)b->initrd_max + 4096;\n")],
    tests=RND)

bug("initrd_refused_below_max",
    "refuses an initrd whenever RAM reaches above initrd_addr_max instead of placing it below",
    edits=[(Z, "  if ((uint64)b->initrd_max + 1 < top)\n    top = (uint64)b->initrd_max + 1;\n",
            "  if ((uint64)b->initrd_max + 1 < top) {\n    *why = \"initrd: RAM above initrd_addr_max\";\n"
            "    return 0;\n  }\n")],
    tests=RND)

# ---- correct variants: other loaders' choices within the protocol ----------

variant("initrd_low_above_kernel",
        "puts the initrd at the first page above the kernel's init_size region, not as high as possible "
        "(the protocol asks only for room below initrd_addr_max)",
        edits=[(Z, "  return (top - pages) & ~4095UL;\n  // LAB 6 STUB",
                "  return b->kernel_end;\n  // LAB 6 STUB")],
        tests=RND + BOOT)

variant("initrd_byte_granular",
        "QEMU's rule: the initrd ends at the limit itself, aligned down to a page, its size not rounded up",
        edits=[(Z, "  uint64 pages = (size + 4095) & ~4095UL;\n", "  uint64 pages = size;\n")],
        tests=RND + BOOT)

variant("zero_page_at_0x10000",
        "the zero page at 0x10000, where QEMU puts a bzImage's real-mode part",
        edits=[("user/vmm/bzimage.h", "#define BZ_ZEROPAGE 0x7000UL", "#define BZ_ZEROPAGE 0x10000UL")],
        tests=BOOT)

variant("cmdline_at_0x30000",
        "the command line elsewhere in low memory (below the EBDA, clear of the tables)",
        edits=[("user/vmm/bzimage.h", "#define BZ_CMDLINE 0x20000UL", "#define BZ_CMDLINE 0x30000UL")],
        tests=BOOT)

variant("e820_qemu_layout",
        "QEMU's e820: RAM to 0x9FC00, the EBDA and the BIOS area reserved apart, RAM from 1 MiB",
        edits=[(Z, "  static const uint32 types[3] = {E820_RAM, E820_RESERVED, E820_RAM};\n"
                   "  uint64 start[3] = {0, BZ_LOWMEM, BZ_KERNEL}, end[3] = {BZ_LOWMEM, BZ_KERNEL, mem};\n"
                   "  for (int i = 0; i < 3; i++) {",
                "  static const uint32 types[4] = {E820_RAM, E820_RESERVED, E820_RESERVED, E820_RAM};\n"
                "  uint64 start[4] = {0, 0x9FC00, 0xF0000, BZ_KERNEL}, end[4] = {0x9FC00, 0xA0000, 0x100000, mem};\n"
                "  for (int i = 0; i < 4; i++) {"),
               (Z, "  zp[BP_E820_ENTRIES] = 3;\n", "  zp[BP_E820_ENTRIES] = 4;\n")],
        tests=BOOT)

# ---- the guest's clock (linux/sleep) ------------------------------------------

bug("tsc_khz_5_percent_high",
    "tells Linux a TSC frequency 5 % above the host's (a sleep 2 then takes 2.1 s: within a loaded "
    "host's slack, so only the frequency check sees it)",
    edits=[("user/vmm/linux.c", "return tsc * 1000000 / (uint64)(b.ns - a.ns);",
            "return tsc * 1050000 / (uint64)(b.ns - a.ns);")],
    tests=["linux/sleep"])

# ---- found by a fresh-eyes trial: bzcheck judges these without a boot ----------------
RANDOM = ["linux/bzimage_random"]
bug("cmdline_size_16bit", "reads cmdline_size, a 4-byte field, as 16 bits",
    edits=[(Z, "b->cmdline_size = u32at(h, HDR_CMDLINE_SIZE);", "b->cmdline_size = u16at(h, HDR_CMDLINE_SIZE);")],
    tests=RANDOM)
bug("init_size_vs_file", "compares init_size with the whole file (setup included), not the kernel after it",
    edits=[(Z, "if (b->init_size < b->kernel_size)", "if (b->init_size < n)")],
    tests=RANDOM)
bug("entry_with_if", "enters the kernel with RFLAGS.IF=1 (the protocol wants interrupts off; Linux boots anyway "
    "while nothing is pending)",
    edits=[(Z, "  r->rflags = 0x2;\n  r->cr3 = BZ_PT;", "  r->rflags = 0x202;\n  r->cr3 = BZ_PT;")],
    tests=RANDOM)
bug("cs_selector_0x08", "CS selector 0x08, not __BOOT_CS (0x10): Linux reloads CS before it looks",
    edits=[(Z, "struct vm_seg code = {0x10, 0xA9B, 0xFFFFFFFF, 0};", "struct vm_seg code = {0x08, 0xA9B, 0xFFFFFFFF, 0};")],
    tests=RANDOM)
