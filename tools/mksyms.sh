#!/bin/sh
# Usage: mksyms.sh KERNEL.ELF > ksyms.S
#        mksyms.sh --same FIRST.ELF SECOND.ELF
# Emits the kernel's text symbols as a table for ksym_lookup() (kern/ksym.c),
# read with $NM (the toolchain's nm: a cross build names its own). --same
# checks that the second link put every text symbol where the first did, so
# that the table built from the first names the second's addresses.
NM=${NM:-nm}
text() {
  out=$("$NM" -n "$1") || { echo "mksyms.sh: $NM -n $1 failed" >&2; exit 1; }
  printf '%s\n' "$out" | awk '$2 ~ /^[tT]$/ && $3 !~ /^ksym_name_/ { print $1, $3 }'
}
if [ "$1" = "--same" ]; then
  a=$(text "$2") || exit 1
  b=$(text "$3") || exit 1
  if [ "$a" != "$b" ]; then
    echo "mksyms.sh: text symbols moved between $2 and $3: panic backtraces would name wrong functions" >&2
    exit 1
  fi
  exit 0
fi
syms=$(text "$1") || exit 1
if [ -z "$syms" ]; then
  echo "mksyms.sh: $1 has no text symbols ($NM): panic backtraces would name none" >&2
  exit 1
fi
printf '%s\n' "$syms" | awk '
  BEGIN { n = 0 }
  { addr[n] = $1; name[n] = $2; n++ }
  END {
    print ".section .rodata"
    print ".balign 8"
    print ".globl ksyms, nksyms"
    print "nksyms: .quad " n
    print "ksyms:"
    for (i = 0; i < n; i++) print "  .quad 0x" addr[i] ", ksym_name_" i
    for (i = 0; i < n; i++) print "ksym_name_" i ": .asciz \"" name[i] "\""
  }'
