// The public header must compile as C++ and link with C linkage.
#include "diffguard.h"

int main() { return dg_abi_version() == DG_ABI_VERSION ? 0 : 1; }
