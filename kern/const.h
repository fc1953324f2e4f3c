// Constants shared by C and assembly: _UL(x) is x UL in C and plain x in GNU as.
#pragma once
#ifdef __ASSEMBLER__
#define _UL(x) x
#else
#define _UL(x) x##UL
#endif
