/* cmd_version.c - `dg version`: the library loaded at run time and the
 * header the tool was built with. */
#include "cli.h"
#include "commands.h"

typedef struct version_info {
    const char *role; /* "library" or "header" */
    const char *version;
    uint32_t number;
    uint32_t abi;
} version_info;

static int run_version(const cli_args *args)
{
    const version_info versions[] = {
        {"library", dg_version_string(), dg_version_number(),
         dg_abi_version()},
        {"header", DG_VERSION_STRING, DG_VERSION_NUMBER, DG_ABI_VERSION},
    };
    enum { N_VERSIONS = sizeof versions / sizeof versions[0] };

    if (cli_flag(args, "json")) {
        json_writer w;
        json_init(&w, stdout);
        json_begin_object(&w);
        for (size_t i = 0; i < N_VERSIONS; i++) {
            json_key(&w, versions[i].role);
            json_begin_object(&w);
            json_put_string(&w, "version", versions[i].version);
            json_put_int(&w, "number", versions[i].number);
            json_put_int(&w, "abi", versions[i].abi);
            json_end_object(&w);
        }
        json_end_object(&w);
    } else {
        text_table t;
        table_init(&t, "llrr", (const char *const[]){"", "version",
                                                     "number", "abi"});
        for (size_t i = 0; i < N_VERSIONS; i++) {
            table_cell(&t, "%s", versions[i].role);
            table_cell(&t, "%s", versions[i].version);
            table_cell(&t, "%u", (unsigned)versions[i].number);
            table_cell(&t, "%u", (unsigned)versions[i].abi);
        }
        int rc = table_print(&t, stdout, 0);
        if (rc != CLI_EXIT_OK) return rc;
    }
    /* The soname pins the ABI, so this only fires for a broken install. */
    if (versions[0].abi != versions[1].abi)
        return cli_error("the library's ABI %u differs from the header's %u",
                         (unsigned)versions[0].abi, (unsigned)versions[1].abi);
    return CLI_EXIT_OK;
}

static const cli_option version_options[] = {
    CLI_OPTION_JSON,
    CLI_OPTIONS_END,
};

const cli_command cmd_version = {
    .name = "version",
    .summary = "Show the library's version and the one dg was built with",
    .synopsis = "",
    .options = version_options,
    .min_args = 0,
    .max_args = 0,
    .run = run_version,
};
