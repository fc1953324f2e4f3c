// Compile-time limits.
#pragma once
#define NCPU 8          // -smp 1 .. -smp 8
#define NPROC 64        // processes
#define NOFILE 16       // open files per process
#define KSTACKSIZE 16384
#define MAXARG 16       // exec arguments
#define MAXPATH 64
#define CMDLINE_MAX 256
#define HZ 100          // timer interrupts per second on each CPU
