// AML encoding for the DSDT (aml.c; acpi.c uses it). Each function writes
// at out and returns how many bytes it wrote.
#pragma once
#include "../../kern/types.h"

int aml_pkglength(uint8 *p, uint32 len);
int aml_package(uint8 *out, const uint8 *op, int oplen, const uint8 *body, uint32 len);
int aml_name(uint8 *out, const char *seg, const uint8 *data, int len);
int aml_string(uint8 *out, const char *s);
int aml_buffer(uint8 *out, const uint8 *bytes, int n);
int aml_crs_mmio_irq(uint8 *out, uint32 base, uint32 len, uint32 gsi, int level, int active_low);
int aml_device(uint8 *out, const char *name, const char *hid, uint8 uid, const uint8 *crs, int crslen);
