// Placeholder until lab 1 lands (stage 1: HSAVE setup).
#include "defs.h"
void svm_hardware_setup(void) {}
void svm_hardware_enable(void) {}
void svm_hardware_disable(void) {}
