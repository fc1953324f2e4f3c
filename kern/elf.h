// ELF64 executables: the parts the loader reads (System V ABI, AMD64 supplement).
#pragma once
#include "types.h"

#define ELF_MAGIC "\177ELF"
#define ELFCLASS64 2
#define ELFDATA2LSB 1
#define EV_CURRENT 1
#define ET_EXEC 2
#define EM_X86_64 62

struct elfhdr {
  uint8 ident[16];      // magic, class, data, version, ...
  uint16 type, machine;
  uint32 version;
  uint64 entry, phoff, shoff;
  uint32 flags;
  uint16 ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};

#define PT_LOAD 1
#define PF_X 1
#define PF_W 2
#define PF_R 4

struct proghdr {
  uint32 type, flags;
  uint64 offset, vaddr, paddr, filesz, memsz, align;
};
