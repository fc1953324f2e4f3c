#!/bin/sh
# Usage: mksyms.sh KERNEL.ELF > ksyms.S
# Emits the kernel's text symbols as a table for ksym_lookup() (kern/ksym.c).
nm -n "$1" 2>/dev/null | awk '
  BEGIN { n = 0 }
  $2 ~ /^[tT]$/ { addr[n] = $1; name[n] = $3; n++ }
  END {
    print ".section .rodata"
    print ".balign 8"
    print ".globl ksyms, nksyms"
    print "nksyms: .quad " n
    print "ksyms:"
    for (i = 0; i < n; i++) print "  .quad 0x" addr[i] ", ksym_name_" i
    for (i = 0; i < n; i++) print "ksym_name_" i ": .asciz \"" name[i] "\""
  }'
