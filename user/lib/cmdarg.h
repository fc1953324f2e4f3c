// A number from the kernel command line, for test programs that take their
// seed the way ktests do (the graders put seed=N there).
#pragma once
#include "user.h"

// The decimal value of KEY=N on the command line (a whole word), else dflt.
long cmdline_num(const char *key, long dflt);
