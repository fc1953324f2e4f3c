// A small AML encoder for the DSDT (ACPI 6.4 §20 "ACPI Machine Language
// (AML) Specification"): just what a device declaration needs. Objects are
// built inside out: a body first, then wrapped by the opcode and PkgLength
// that say how long it is.
#include "aml.h"
#include "../../lib/string.h"

// PkgLength (§20.2.4): the length of the package including the PkgLength
// bytes themselves. Below 64 one byte holds it; otherwise the lead byte's
// bits 7-6 count the bytes that follow (1..3), its bits 3-0 are the length's
// low nibble and each following byte the next 8 bits. Returns the bytes
// written at p for a body of len bytes (what follows the PkgLength).
int aml_pkglength(uint8 *p, uint32 len)
{
  int nb = len + 1 < 64 ? 1 : len + 2 < (1U << 12) ? 2 : len + 3 < (1U << 20) ? 3 : 4;
  uint32 total = len + nb;
  if (nb == 1) {
    p[0] = total;
    return 1;
  }
  p[0] = (nb - 1) << 6 | (total & 0xF);
  for (int i = 1; i < nb; i++)
    p[i] = total >> (4 + 8 * (i - 1));
  return nb;
}

// op (1 or 2 bytes, 0 for none), a PkgLength, then body: at out. Returns the length.
int aml_package(uint8 *out, const uint8 *op, int oplen, const uint8 *body, uint32 len)
{
  memmove(out, op, oplen);
  int k = oplen + aml_pkglength(out + oplen, len);
  memmove(out + k, body, len);
  return k + len;
}

// Name (NAME, data): NameOp, a 4-character NameSeg, the data object.
int aml_name(uint8 *out, const char *seg, const uint8 *data, int len)
{
  out[0] = 0x08;   // NameOp
  memmove(out + 1, seg, 4);
  memmove(out + 5, data, len);
  return 5 + len;
}

// A String object (§20.2.3: StringPrefix, ASCII characters, NullChar).
int aml_string(uint8 *out, const char *s)
{
  int n = strlen(s);
  out[0] = 0x0D;
  memmove(out + 1, s, n + 1);
  return n + 2;
}

// Buffer (n) { bytes }: BufferOp PkgLength BufferSize(ByteConst) bytes, n < 256.
int aml_buffer(uint8 *out, const uint8 *bytes, int n)
{
  uint8 body[260];
  body[0] = 0x0A, body[1] = n;   // BytePrefix n
  memmove(body + 2, bytes, n);
  uint8 op = 0x11;   // BufferOp
  return aml_package(out, &op, 1, body, n + 2);
}

// A resource template (§6.4 "Resource Data Types for ACPI") for one MMIO
// window and one interrupt: Memory32Fixed (§6.4.3.4, large item 0x86),
// Extended Interrupt (§6.4.3.6, 0x89) and the End Tag (§6.4.2.9) whose
// checksum byte 0 means "treat as correct".
int aml_crs_mmio_irq(uint8 *out, uint32 base, uint32 len, uint32 gsi, int level, int active_low)
{
  uint8 *p = out;
  *p++ = 0x86, *p++ = 9, *p++ = 0;      // length 9
  *p++ = 1;                             // read/write
  memmove(p, &base, 4), p += 4;
  memmove(p, &len, 4), p += 4;
  *p++ = 0x89, *p++ = 6, *p++ = 0;      // length 6: flags, count, one interrupt
  // Flags: bit 0 consumer, bit 1 edge (0: level), bit 2 active low, bit 3 shared (0: exclusive).
  *p++ = 1 | (level ? 0 : 2) | (active_low ? 4 : 0);
  *p++ = 1;
  memmove(p, &gsi, 4), p += 4;
  *p++ = 0x79, *p++ = 0;
  return p - out;
}

// Device (\_SB.name) { Name (_HID, hid) Name (_UID, uid) Name (_CRS, crs) }
// (§19.6.30 Device, §6.1.5 _HID, §6.1.12 _UID, §6.2.2 _CRS): at out.
int aml_device(uint8 *out, const char *name, const char *hid, uint8 uid, const uint8 *crs, int crslen)
{
  uint8 body[512], data[300];
  int k = 0;
  body[k++] = '\\', body[k++] = 0x2E;   // RootChar, DualNamePrefix: \_SB_.name
  memmove(body + k, "_SB_", 4), k += 4;
  memmove(body + k, name, 4), k += 4;
  int n = aml_string(data, hid);
  k += aml_name(body + k, "_HID", data, n);
  data[0] = 0x0A, data[1] = uid;        // BytePrefix uid
  k += aml_name(body + k, "_UID", data, 2);
  n = aml_buffer(data, crs, crslen);
  k += aml_name(body + k, "_CRS", data, n);
  static const uint8 op[2] = {0x5B, 0x82};   // ExtOpPrefix DeviceOp
  return aml_package(out, op, 2, body, k);
}
