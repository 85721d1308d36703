/* fake_abi.c - a library that claims another ABI version, for the test of
 * the Python binding's check at load time. */
#include <stdint.h>

uint32_t dg_abi_version(void);

uint32_t dg_abi_version(void) { return 2; }
