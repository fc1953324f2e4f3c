// guestfuzz's modes that run the VMM's own code (user/fuzz/vmmfuzz.c).
#pragma once
#include "../../kern/types.h"

enum { LOAD_REFUSED, LOAD_LOADED, LOAD_RAN, LOAD_VIOLATION, NLOAD };

int vmmfuzz_init(uint64 (*word)(void));   // 0, or -1 (no templates, no memory)
// How a device guest ended: enum end (user/vmm/vmm.h), or DEV_NOSTART.
#define DEV_NOSTART 8
#define DEV_NENDS 9
extern const char *const dev_end_names[DEV_NENDS];
int vmmfuzz_dev(void);                    // one device guest: how it ended
int vmmfuzz_loader(void);                 // one corrupted image: LOAD_*
