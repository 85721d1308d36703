/* The public header must compile as strict C11 on its own. */
#include "diffguard.h"

int main(void) { return dg_version_number() == DG_VERSION_NUMBER ? 0 : 1; }
