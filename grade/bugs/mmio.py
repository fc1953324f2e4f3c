"""Plausible mistakes in lab 7 (mmio): decoding, emulating, walking the guest's page tables.
Each must lose points (tools/bugs.py). EMU = the emulator-versus-CPU test."""
from bugs import bug, variant

EMU = "mmio/emulator_vs_cpu"
AGREE = "mmio/mmio_agree"
P32 = "mmio/mmio_prot32"
RANDOM = "mmio/mmio_random"   # user/mmiodiff: random instances through the real MMIO exit path

# ---- part A: sizes and the memory operand (decode.c) -----------------------------------------
bug("disp8_unsigned", "an 8-bit displacement is not sign-extended",
    edits=[("user/vmm/decode.c", "  else if (in->mod == 1)\n    r = fetch(c, 1, 1, &d);",
            "  else if (in->mod == 1)\n    r = fetch(c, 1, 0, &d);")], tests=[EMU, AGREE])
bug("rex_x_ignored", "REX.X does not extend the SIB index",
    edits=[("user/vmm/decode.c", "in->index = ((sib >> 3) & 7) | ((in->rex & 2) ? 8 : 0);",
            "in->index = (sib >> 3) & 7;")], tests=[EMU])
bug("rex_b_ignored_sib", "REX.B does not extend the SIB base",
    edits=[("user/vmm/decode.c", "in->base = (sib & 7) | ((in->rex & 1) ? 8 : 0);",
            "in->base = sib & 7;")], tests=[EMU])
bug("nobase_with_rex_b", "the no-base SIB case tests the REX-extended base (R13 with mod 00 read as a base)",
    edits=[("user/vmm/decode.c", "    if ((sib & 7) == 5 && in->mod == 0)", "    if (in->base == 5 && in->mod == 0)")],
    tests=[EMU])
bug("riprel_r13", "mod 00 with rm 101 and REX.B (R13) taken as a base register, not RIP-relative",
    edits=[("user/vmm/decode.c", "    if ((in->rm & 7) == 5 && in->mod == 0) {", "    if (in->rm == 5 && in->mod == 0) {")],
    tests=[EMU])
bug("riprel_in_32bit", "RIP-relative addressing outside 64-bit mode",
    edits=[("user/vmm/decode.c", "      in->riprel = mode == 64;", "      in->riprel = 1;")], tests=[EMU])
bug("disp32_for_mod2_short", "mod 10 reads an 8-bit displacement",
    edits=[("user/vmm/decode.c", "  if (in->nobase || in->mod == 2)\n    r = fetch(c, 4, 1, &d);",
            "  if (in->nobase)\n    r = fetch(c, 4, 1, &d);\n  else if (in->mod == 2)\n    r = fetch(c, 1, 1, &d);")],
    tests=[EMU, AGREE])
bug("sib_index4_used", "SIB index 100b (no index) still adds RSP, scaled",
    edits=[("user/vmm/emulate.c", "    if (in->has_sib && in->index != 4)", "    if (in->has_sib)")],
    tests=[EMU])
bug("modrm16_bp_si_swapped", "16-bit forms [BP+SI] and [BP+DI] with the index registers swapped",
    edits=[("user/vmm/decode.c", "static const int8 index[8] = {X86_RSI, X86_RDI, X86_RSI, X86_RDI,",
            "static const int8 index[8] = {X86_RSI, X86_RDI, X86_RDI, X86_RSI,")], tests=[EMU])
bug("modrm16_disp16_as_bp", "16-bit mod 00 rm 110 read as [BP], not as an absolute disp16",
    edits=[("user/vmm/decode.c", "  if (in->mod == 0 && (in->rm & 7) == 6) {", "  if (0) {")], tests=[EMU, P32])
bug("modrm16_disp8_unsigned", "16-bit forms: the 8-bit displacement is not sign-extended",
    edits=[("user/vmm/decode.c", "  } else if (in->mod == 1) {\n    r = fetch(c, 1, 1, &d);",
            "  } else if (in->mod == 1) {\n    r = fetch(c, 1, 0, &d);")], tests=[EMU])
bug("opsize_66_ignored_64", "the 66 prefix does not shrink the operand size in 64-bit mode",
    edits=[("user/vmm/decode.c", "    in->opsize = (in->rex & 8) ? 8 : opsz16 ? 2 : 4;", "    in->opsize = (in->rex & 8) ? 8 : 4;")],
    tests=[EMU])
bug("opsize_66_beats_rexw", "66 wins over REX.W",
    edits=[("user/vmm/decode.c", "    in->opsize = (in->rex & 8) ? 8 : opsz16 ? 2 : 4;", "    in->opsize = opsz16 ? 2 : (in->rex & 8) ? 8 : 4;")],
    tests=[EMU])
bug("adsize_67_16bit_in_64", "67 in 64-bit mode selects 16-bit addressing",
    edits=[("user/vmm/decode.c", "    in->adsize = adsz ? 4 : 8;", "    in->adsize = adsz ? 2 : 8;")], tests=[EMU, AGREE])
bug("opsize_16bit_mode", "16-bit code segments default to 32-bit operands",
    edits=[("user/vmm/decode.c", "    in->opsize = opsz16 ? 4 : 2;", "    in->opsize = opsz16 ? 2 : 4;")], tests=[EMU])

# ---- part B: operands, addresses, strings (emulate.c) ----------------------------------------
bug("no_zero_extend_32", "a 32-bit register write keeps bits 63:32",
    edits=[("user/vmm/emulate.c", "  if (size >= 4)\n    cpu->gpr[r] = v & mask_of(size);", "  if (size >= 8)\n    cpu->gpr[r] = v & mask_of(size);")],
    tests=[EMU, AGREE])
bug("high_byte_with_rex", "registers 4-7 are AH..BH even with a REX prefix",
    edits=[("user/vmm/emulate.c", "  if (size == 1 && !in->rex && r >= 4 && r < 8)\n    return",
            "  if (size == 1 && r >= 4 && r < 8)\n    return")], tests=[EMU, AGREE])
bug("no_high_byte", "AH..BH read as SPL..DIL (the low byte of registers 4-7)",
    edits=[("user/vmm/emulate.c", "  if (size == 1 && !in->rex && r >= 4 && r < 8)\n    return",
            "  if (0)\n    return")], tests=[EMU, AGREE])
bug("word_write_zero_extends", "a 16-bit register write clears the upper bits",
    edits=[("user/vmm/emulate.c", "    cpu->gpr[r] = (cpu->gpr[r] & ~mask_of(size)) | (v & mask_of(size));",
            "    cpu->gpr[r] = v & mask_of(size);")], tests=[EMU, AGREE])
bug("scale_multiplies", "the SIB scale multiplies (index * 2 bits) instead of shifting",
    edits=[("user/vmm/emulate.c", "      ea += cpu->gpr[in->index] << in->scale;", "      ea += cpu->gpr[in->index] * in->scale;")],
    tests=[EMU, AGREE])
bug("ea_not_wrapped", "the effective address is not wrapped to a 32-bit address size",
    edits=[("user/vmm/emulate.c", "  return ea & mask_of(in->adsize);\n}", "  return ea;\n}")], tests=[EMU])
bug("riprel_from_start", "RIP-relative addresses count from the start of the instruction",
    edits=[("user/vmm/emulate.c", "    ea += cpu->rip + in->len;", "    ea += cpu->rip;")], tests=[EMU, AGREE])
bug("ds_base_in_64bit", "every segment base counts in 64-bit mode",
    edits=[("user/vmm/emulate.c", "  if (cpu->mode == 64 && s != X86_FS && s != X86_GS)\n    return 0;", "")],
    tests=[EMU])
bug("gs_base_ignored_64", "the GS base is dropped in 64-bit mode",
    edits=[("user/vmm/emulate.c", "  if (cpu->mode == 64 && s != X86_FS && s != X86_GS)", "  if (cpu->mode == 64 && s != X86_FS)")],
    tests=[EMU, AGREE])
bug("bp_default_ds", "[rBP]/[rSP]-based operands default to DS, not SS",
    edits=[("user/vmm/emulate.c", "    if (in->base16 == X86_RBP)\n      *defseg = X86_SS;", "")], tests=[EMU])
bug("string_df_ignored", "string instructions always move forward",
    edits=[("user/vmm/emulate.c", "  int64 step = (cpu->rflags & X86_FL_DF) ? -sz : sz;", "  int64 step = sz;")],
    tests=[EMU, AGREE])
bug("string_count_full_rcx", "REP counts the whole RCX whatever the address size",
    edits=[("user/vmm/emulate.c", "  uint64 left = in->rep ? cpu->gpr[X86_RCX] & mask_of(in->adsize) : 1;",
            "  uint64 left = in->rep ? cpu->gpr[X86_RCX] : 1;")],
    tests=[EMU])
bug("string_rcx_not_counted", "REP does not count RCX down",
    edits=[("user/vmm/emulate.c", "      step_reg(cpu, X86_RCX, in->adsize, -1);\n", "")],
    tests=[EMU, AGREE])
bug("string_16bit_clobbers", "16-bit string steps clear the upper bits of rSI/rDI/rCX",
    edits=[("user/vmm/emulate.c", "  cpu->gpr[r] = adsize == 2 ? (cpu->gpr[r] & ~0xFFFFUL) | v : v;", "  cpu->gpr[r] = v;")],
    tests=[EMU])
bug("string_zext_on_zero_count", "a 32-bit-address REP with count 0 zero-extends RCX/RSI/RDI on an AMD CPU "
    "(Intel's quirk everywhere; EMU catches it on an AMD build machine; a count of 0 touches no "
    "device, so the MMIO path never sees it)",
    edits=[("user/vmm/emulate.c", "  if (in->adsize == 4 && cpu->intel && left == 0", "  if (in->adsize == 4 && left == 0")],
    tests=[EMU])
bug("string_repe_repne_swapped", "REPE and REPNE swapped: F3 CMPS/SCAS stops on ZF = 1",
    edits=[("user/vmm/emulate.c", "  return in->rep == 0xF3 ? !zf : zf;", "  return in->rep == 0xF2 ? !zf : zf;")],
    tests=[EMU, RANDOM])
bug("string_cmps_reversed", "CMPS computes [rDI] - [rSI] (the operands of CMP swapped)",
    edits=[("user/vmm/emulate.c", "      x86_alu(7, sz, src, dst, &cpu->rflags);", "      x86_alu(7, sz, dst, src, &cpu->rflags);")],
    tests=[EMU, RANDOM])
bug("string_rep_stops_all", "REPE/REPNE's ZF test also ends REP MOVS/STOS/LODS",
    edits=[("user/vmm/emulate.c", "  if (in->kind != K_CMPS && in->kind != K_SCAS)\n    return 0;\n", "")],
    tests=[EMU, RANDOM])
bug("string_override_on_dest", "a segment override moves the destination ES:rDI too",
    edits=[("user/vmm/emulate.c", "  uint64 dla = linear(cpu, X86_ES,", "  uint64 dla = linear(cpu, in->seg >= 0 ? in->seg : X86_ES,")],
    tests=[EMU])
bug("string_chunk_finishes", "a REP longer than REP_CHUNK elements is reported finished after the first chunk",
    edits=[("user/vmm/emulate.c", "    if (i == REP_CHUNK)\n      return 0;", "    if (i == REP_CHUNK)\n      return 1;")],
    tests=[EMU])

# ---- part C: the guest's page tables, the fetch (gva.c, mmio.c) -------------------------------
bug("wp_ignored", "supervisor writes to read-only pages allowed even with CR0.WP",
    edits=[("user/vmm/gva.c", "(acc & GVA_WRITE) && !(all & PTE_W) && (cpl3 || (r->cr0 & CR0_WP))",
            "(acc & GVA_WRITE) && !(all & PTE_W) && cpl3")], tests=[P32])
bug("rights_or_pte", "32-bit walk: the PTE's rights ORed into the directory's, not ANDed",
    edits=[("user/vmm/gva.c", "    all &= *pte;", "    all |= *pte;")], tests=[P32])
bug("pse_offset_mask", "4 MiB pages keep only 18 offset bits",
    edits=[("user/vmm/gva.c", "    *gpa = (*pde & 0xFFC00000UL) | (la & 0x3FFFFF);", "    *gpa = (*pde & 0xFFC00000UL) | (la & 0x3FFFF);")],
    tests=[P32])
bug("pae_pdpt_page_aligned", "the PAE directory-pointer table taken as page-aligned",
    edits=[("user/vmm/gva.c", "(r->cr3 & 0xFFFFFFE0UL)", "(r->cr3 & 0xFFFFF000UL)")], tests=[P32])
bug("large_page_only_pdpt", "long mode: only 1 GiB pages recognised (PS ignored in the PD)",
    edits=[("user/vmm/gva.c", "    if (lvl > 1 && lvl <= 3 && (e & PTE_PS)) {", "    if (lvl == 3 && (e & PTE_PS)) {")],
    tests=[AGREE, P32])
bug("walk_index_bits", "a level's index takes 10 bits instead of 9",
    edits=[("user/vmm/gva.c", "    uint64 *p = entry_at(g, table + 8 * ((la >> shift) & 511), 8);",
            "    uint64 *p = entry_at(g, table + 8 * ((la >> shift) & 1023), 8);")], tests=[AGREE, P32])
bug("notpresent_read_error_code", "a not-present fault on a write reports a read (W bit dropped)",
    edits=[("user/vmm/gva.c", "      return access_code(r, acc, cpl3) | GVA_PF_NOTPRESENT;",
            "      return access_code(r, acc & ~GVA_WRITE, cpl3) | GVA_PF_NOTPRESENT;")], tests=[AGREE])

# ---- caught by the random instances through the real MMIO path (mmio_random) ---------------------
bug("byte_reg_ah_with_rex", "byte registers 4-7 read as AH..BH even with a REX prefix (SPL..DIL)",
    edits=[("user/vmm/emulate.c", "  if (size == 1 && !in->rex && r >= 4 && r < 8)\n    return (cpu->gpr[r - 4] >> 8) & 0xFF;",
            "  if (size == 1 && r >= 4 && r < 8)\n    return (cpu->gpr[r - 4] >> 8) & 0xFF;")], tests=[EMU, RANDOM])

# ---- caught by the random page walks (gva_random, user/gvacheck.c) ---------------------------------
GVA = "mmio/gva_random"
G = "user/vmm/gva.c"
bug("id_bit_without_nxe", "a fetch's #PF reports I/D even without EFER.NXE (the CPU reports it only with NX on)",
    edits=[(G, "  int fetch = (acc & GVA_FETCH) && (r->efer & EFER_NXE) && (r->cr4 & CR4_PAE);",
            "  int fetch = acc & GVA_FETCH;")], tests=[GVA])
bug("nx_without_nxe", "NX pages refuse fetches even when EFER.NXE is off (bit 63 is then not NX)",
    edits=[(G, "(acc & GVA_FETCH) && (r->efer & EFER_NXE) && (all & PTE_NX)", "(acc & GVA_FETCH) && (all & PTE_NX)")],
    tests=[GVA])
bug("rights_from_leaf_only", "long mode/PAE: R/W and U/S taken from the last entry alone, not ANDed down the walk",
    edits=[(G, "    all = (all & e & (PTE_W | PTE_U)) | ((all | e) & PTE_NX);",
            "    all = (e & (PTE_W | PTE_U)) | ((all | e) & PTE_NX);")], tests=[GVA])
bug("nx_from_leaf_only", "NX taken from the last entry alone (an NX directory entry covers its whole range)",
    edits=[(G, "    all = (all & e & (PTE_W | PTE_U)) | ((all | e) & PTE_NX);",
            "    all = (all & e & (PTE_W | PTE_U)) | (e & PTE_NX);")], tests=[GVA])
bug("dirty_on_read", "long mode/PAE: the dirty bit set on reads and fetches too",
    edits=[(G, "  if (!err && (acc & GVA_WRITE))\n    *leaf |= PTE_D;\n  return err;\n}\n\n// PAE",
            "  if (!err)\n    *leaf |= PTE_D;\n  return err;\n}\n\n// PAE")], tests=[GVA])
bug("accessed_never_set", "long mode/PAE: the walk never sets the accessed bits",
    edits=[(G, "    *p |= PTE_A;\n    leaf = p;\n", "    leaf = p;\n")], tests=[GVA])
bug("large_page_pat_in_address", "2 MiB/1 GiB pages: the PAT bit (12) of the entry kept in the address",
    edits=[(G, "      *gpa = (e & ADDR_MASK & ~((1UL << shift) - 1)) | (la & ((1UL << shift) - 1));",
            "      *gpa = (e & ADDR_MASK) | (la & ((1UL << shift) - 1));")], tests=[GVA])
bug("pse_without_cr4_pse", "32-bit paging: a PS directory entry maps 4 MiB even with CR4.PSE off",
    edits=[(G, "  if ((*pde & PTE_PS) && (r->cr4 & CR4_PSE)) {", "  if (*pde & PTE_PS) {")], tests=[GVA])
bug("user_write_needs_wp", "CPL 3 writes to read-only pages allowed unless CR0.WP (WP only concerns supervisor writes)",
    edits=[(G, "(acc & GVA_WRITE) && !(all & PTE_W) && (cpl3 || (r->cr0 & CR0_WP))",
            "(acc & GVA_WRITE) && !(all & PTE_W) && (r->cr0 & CR0_WP)")], tests=[GVA])

# ---- correct variants: other walkers' choices ------------------------------------------------------
variant("kvm_accessed_after_permission",
        "KVM's order (paging_tmpl.h): the accessed bits are set only once the permission check passed",
        edits=[(G, "  uint64 *leaf = NULL;\n  for (int lvl = levels; lvl >= 1; lvl--) {",
                "  uint64 *leaf = NULL, *used[4];\n  int nused = 0;\n  for (int lvl = levels; lvl >= 1; lvl--) {"),
               (G, "    *p |= PTE_A;\n    leaf = p;", "    used[nused++] = p;\n    leaf = p;"),
               (G, "  int err = rights(r, all, acc, cpl3);\n  if (!err && (acc & GVA_WRITE))\n    *leaf |= PTE_D;\n"
                   "  return err;\n}\n\n// PAE",
                "  int err = rights(r, all, acc, cpl3);\n  for (int i = 0; !err && i < nused; i++)\n    *used[i] |= PTE_A;\n"
                "  if (!err && (acc & GVA_WRITE))\n    *leaf |= PTE_D;\n  return err;\n}\n\n// PAE")],
        tests=[GVA, AGREE, P32])
variant("rights_user_first",
        "checks U/S before R/W: the same error code, another order",
        edits=[(G, "  if ((acc & GVA_WRITE) && !(all & PTE_W) && (cpl3 || (r->cr0 & CR0_WP)))\n    return err;\n"
                   "  if (cpl3 && !(all & PTE_U))\n    return err;\n",
                "  if (cpl3 && !(all & PTE_U))\n    return err;\n"
                "  if ((acc & GVA_WRITE) && !(all & PTE_W) && (cpl3 || (r->cr0 & CR0_WP)))\n    return err;\n")],
        tests=[GVA, P32])
variant("fetch_byte_by_byte",
        "fetches the instruction one byte at a time, each byte through its own walk (slower, the same bytes)",
        edits=[("user/vmm/mmio.c", "    int n = 0x1000 - ((la + got) & 0xFFF);\n", "    int n = 1;\n")],
        tests=[AGREE, P32, RANDOM])
variant("pse_frame_by_shift",
        "32-bit 4 MiB pages: the frame from (pde >> 22) << 22 instead of a mask",
        edits=[(G, "    *gpa = (*pde & 0xFFC00000UL) | (la & 0x3FFFFF);",
                "    *gpa = ((uint64)(*pde >> 22) << 22) | (la & 0x3FFFFF);")],
        tests=[GVA, P32])
variant("pdpt_base_as_complement",
        "PAE: the PDPT's base as the low 32 bits of CR3 with bits 4:0 cleared (~31), as the APM words it",
        edits=[(G, "(r->cr3 & 0xFFFFFFE0UL)", "((uint32)r->cr3 & ~31U)")],
        tests=[GVA, P32])
bug("fetch_contiguous_frames", "the instruction fetch translates its first byte only and reads on across the page "
    "boundary in guest-physical memory (the next virtual page may be any frame)",
    edits=[("user/vmm/mmio.c", "    int n = 0x1000 - ((la + got) & 0xFFF);\n    if (n > 15 - got)\n      n = 15 - got;\n",
            "    int n = 15 - got;\n")], tests=[RANDOM])
bug("gs_base_dropped_mmio", "the GS base is dropped in 64-bit mode (seen through the real MMIO path)",
    edits=[("user/vmm/emulate.c", "  if (cpu->mode == 64 && s != X86_FS && s != X86_GS)", "  if (cpu->mode == 64 && s != X86_FS)")],
    tests=[RANDOM])
A = "user/vmm/alu.c"
variant("flags_by_formula_add_sub",
        "ADD, SUB and CMP computed in C with their flags by the manual's formulas (QEMU's way, lazy flags "
        "aside), the other operations still on the host's ALU (KVM's fastop way)",
        edits=[(A, "uint64 x86_alu(int op, int size, uint64 dst, uint64 src, uint64 *rflags)\n{",
                "static uint64 addsub_flags(int sub, int size, uint64 d, uint64 s, uint64 r)\n"
                "{\n"
                "  uint64 m = size == 8 ? ~0UL : (1UL << (8 * size)) - 1, sign = 1UL << (8 * size - 1);\n"
                "  d &= m, s &= m, r &= m;\n"
                "  uint64 p = r & 0xFF, f = 2;\n"
                "  p ^= p >> 4, p ^= p >> 2, p ^= p >> 1;\n"
                "  f |= (sub ? s > d : r < d) ? 0x1 : 0;                        // CF\n"
                "  f |= (p & 1) ? 0 : 0x4;                                      // PF: even parity\n"
                "  f |= (d ^ s ^ r) & 0x10;                                     // AF\n"
                "  f |= r == 0 ? 0x40 : 0;                                      // ZF\n"
                "  f |= (r & sign) ? 0x80 : 0;                                  // SF\n"
                "  f |= ((sub ? (d ^ s) & (d ^ r) : (d ^ r) & (s ^ r)) & sign) ? 0x800 : 0;   // OF\n"
                "  return f;\n"
                "}\n\n"
                "uint64 x86_alu(int op, int size, uint64 dst, uint64 src, uint64 *rflags)\n{"),
               (A, "  case 0: BINARY(\"add\") break;", "  case 0: d = dst + src; f = addsub_flags(0, size, dst, src, d); break;"),
               (A, "  case 5: BINARY(\"sub\") break;", "  case 5: d = dst - src; f = addsub_flags(1, size, dst, src, d); break;"),
               (A, "  case 7: BINARY(\"cmp\") break;", "  case 7: f = addsub_flags(1, size, dst, src, dst - src); break;")],
        tests=[EMU, AGREE, RANDOM])

# ---- segments outside 64-bit mode, FS in 64-bit mode ---------------------------------------------
# mmio_random's 32- and 16-bit instances catch each of these (checked when they were added); those
# that emutest's 16/32-bit vectors catch too are graded by EMU alone here, which costs a second
# instead of a boot. The others only mmio_random sees: a 16-bit address that passes 64 KiB, ES/CS/
# SS/DS overrides outside 64-bit mode, CS.base in the fetch, the FS base (emutest runs on a host
# whose FS is its TLS).
E = "user/vmm/emulate.c"
bug("seg_base_ignored_legacy", "segment bases ignored outside 64-bit mode (a flat-memory assumption)",
    edits=[(E, "  uint64 la = seg_base(cpu, s) + off;", "  uint64 la = (cpu->mode == 64 ? seg_base(cpu, s) : 0) + off;")],
    tests=[EMU])
bug("fs_base_ignored_64", "the FS base is dropped in 64-bit mode (only GS keeps one)",
    edits=[(E, "  if (cpu->mode == 64 && s != X86_FS && s != X86_GS)", "  if (cpu->mode == 64 && s != X86_GS)")],
    tests=[RANDOM])
bug("bp32_default_ds", "[EBP]/[ESP]-based operands default to DS, not SS (32-bit addressing)",
    edits=[(E, "      if (in->base == X86_RSP || in->base == X86_RBP)\n        *defseg = X86_SS;\n", "")],
    tests=[EMU])
bug("no_16bit_wrap", "16-bit effective addresses are not wrapped at 64 KiB ([BX+SI+disp] past 0xFFFF)",
    edits=[(E, "  return ea & mask_of(in->adsize);\n}", "  return in->adsize == 2 ? ea : ea & mask_of(in->adsize);\n}")],
    tests=[RANDOM])
bug("string_dest_ds", "string destinations through DS:rDI, not ES:rDI",
    edits=[(E, "  uint64 dla = linear(cpu, X86_ES,", "  uint64 dla = linear(cpu, X86_DS,")], tests=[EMU])
bug("override_fs_gs_only", "only FS and GS overrides honoured (the others ignored, as if every mode were 64-bit)",
    edits=[(E, "  return linear(cpu, in->seg >= 0 ? in->seg : defseg, off);",
            "  return linear(cpu, in->seg >= X86_FS ? in->seg : defseg, off);")], tests=[RANDOM])
bug("fetch_ignores_cs_base", "the instruction is fetched at RIP, not at CS.base + RIP",
    edits=[("user/vmm/mmio.c", "  uint64 la = x->r->cs.base + x->r->rip;", "  uint64 la = x->r->rip;")], tests=[RANDOM])
bug("adsize_67_ignored_16", "67 ignored in 16-bit code (always 16-bit addresses)",
    edits=[("user/vmm/decode.c", "    in->adsize = adsz ? 4 : 2;", "    in->adsize = 2;")], tests=[EMU])
variant("linear_in_32bit_arithmetic",
        "outside 64-bit mode the linear address summed in 32-bit arithmetic (KVM's linearize truncates after)",
        edits=[(E, "  uint64 la = seg_base(cpu, s) + off;\n  return cpu->mode == 64 ? la : (uint32)la;",
                "  if (cpu->mode != 64)\n    return (uint32)((uint32)seg_base(cpu, s) + (uint32)off);\n"
                "  return seg_base(cpu, s) + off;")],
        tests=[EMU, RANDOM])
