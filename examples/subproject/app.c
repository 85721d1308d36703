/* app.c - a parent project's program linked with the vendored
 * libdiffguard: it checks the library's ABI against the header it was
 * compiled with and classifies nothing yet. */
#include <stdio.h>

#include <diffguard.h>

int main(void)
{
    if (dg_abi_version() != DG_ABI_VERSION) {
        fprintf(stderr, "libdiffguard ABI %u, header %d\n",
                (unsigned)dg_abi_version(), DG_ABI_VERSION);
        return 1;
    }
    printf("guarded-app with libdiffguard %s\n", dg_version_string());
    return 0;
}
