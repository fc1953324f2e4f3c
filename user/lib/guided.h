// Coverage-guided input generation for the fuzzers (user/vmfuzz.c,
// user/guestfuzz.c), as syzkaller and libFuzzer do it. An input is the
// sequence of 64-bit words a fuzzer draws instead of random numbers (every
// choice it makes is `word % n`), so mutating a word changes one decision.
// After each input the fuzzer calls guided_done(): the kernel's coverage
// (kcov, system call 48) and the program's own (ucov: the VMM's device
// models and loaders) are read, and an input that reached a site no earlier
// one did joins the corpus; the next input is a fresh one or a mutated
// corpus entry (word replaced, bit flipped, small value, truncated, spliced,
// word inserted). Without coverage (a kernel not built with SAN=1) nothing
// is ever new and every input is fresh: plain random fuzzing.
//
// The corpus outlives a boot through the host (tools/fuzz.sh): guided_save
// prints each entry as "NAME: corpus LEN W0 W1 ..." (hex words), and
// guided_load runs the entries of an initrd file (uint32 length, then the
// words, repeated) before anything else.
#pragma once
#include "../../kern/types.h"

#define GUIDED_MAXW 512      // words recorded per input (later draws are not)
#define GUIDED_MAXCORPUS 256

struct ginput {
  uint32 len;
  uint64 w[GUIDED_MAXW];
};

struct guided {
  const char *name;          // the fuzzer, for messages
  uint64 rng;                // the fuzzer's own choices (mutations, fresh words)
  uint32 nk, nu;             // kernel sites, this program's sites
  uint8 *cov;                // (nk + nu) bits: reached by some input so far
  uint32 reached_k, reached_u;
  struct ginput *corpus;
  uint32 ncorpus;
  uint64 inputs, kept;
  struct ginput cur;
  uint32 pos;
  uint32 *buf;               // collect buffer
};

int guided_init(struct guided *g, const char *name, uint64 seed);
uint64 guided_word(struct guided *g);        // the next word of the current input
void guided_next(struct guided *g);          // starts the next input
uint32 guided_done(struct guided *g);        // the input ran: sites it reached first
void guided_report(struct guided *g);        // "NAME: coverage: ..." line
// Runs every entry of initrd file path through run(), keeping those that
// reach new sites; how many there were (0: no such file).
long guided_load(struct guided *g, const char *path, void (*run)(void));
void guided_save(struct guided *g);          // the corpus (and the kcov map) on fd 2
