/* test_helpers.c - the shared helpers of dg on their own: the JSON writer's
 * escaping and layout, option parsing with every spelling and range check,
 * and table alignment.  Prints TAP. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static int checks, failures;

static void check(bool ok, const char *what)
{
    checks++;
    failures += !ok;
    printf("%sok %d - %s\n", ok ? "" : "not ", checks, what);
}

static void check_text(const char *got, const char *want, const char *what)
{
    check(strcmp(got, want) == 0, what);
    if (strcmp(got, want) != 0)
        printf("# got:\n%s\n# wanted:\n%s\n", got, want);
}

/* ------------------------------------------------------------------ JSON */

static void test_json(void)
{
    char *text;
    size_t size;
    FILE *out = open_memstream(&text, &size);
    json_writer w;
    json_init(&w, out);
    json_begin_object(&w);
    json_key(&w, "escapes");
    json_string(&w, "q\" b\\ n\n t\t r\r c\x01 del\x7f csi\xC2\x9b");
    json_key(&w, "utf8");
    json_string(&w, "caf\xC3\xA9 \xF0\x9F\x98\x80");
    json_key(&w, "invalid");
    /* overlong, surrogate, cut short, past U+10FFFF, lone continuation */
    json_string(&w, "\xC0\x80|\xED\xA0\x80|\xE2\x82|\xF5\x80\x80\x80|\x80");
    json_key(&w, "numbers");
    json_begin_array(&w);
    json_number(&w, 0.1f);
    json_number(&w, -2.5e-7);
    json_number(&w, NAN);
    json_number(&w, INFINITY);
    json_int(&w, -9007199254740993);
    json_end_array(&w);
    json_key(&w, "empty");
    json_begin_array(&w);
    json_end_array(&w);
    json_key(&w, "nested");
    json_begin_array(&w);
    json_begin_object(&w);
    json_end_object(&w);
    json_bool(&w, true);
    json_bool(&w, false);
    json_end_array(&w);
    json_end_object(&w);
    fclose(out);

    const char *want =
        "{\n"
        "  \"escapes\": \"q\\\" b\\\\ n\\n t\\t r\\r c\\u0001 del\\u007f "
        "csi\\u009b\",\n"
        "  \"utf8\": \"caf\xC3\xA9 \xF0\x9F\x98\x80\",\n"
        "  \"invalid\": \"\xEF\xBF\xBD\xEF\xBF\xBD|"
        "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD|"
        "\xEF\xBF\xBD\xEF\xBF\xBD|"
        "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD|"
        "\xEF\xBF\xBD\",\n"
        "  \"numbers\": [\n"
        "    0.100000001,\n"
        "    -2.5e-07,\n"
        "    null,\n"
        "    null,\n"
        "    -9007199254740993\n"
        "  ],\n"
        "  \"empty\": [],\n"
        "  \"nested\": [\n"
        "    {},\n"
        "    true,\n"
        "    false\n"
        "  ]\n"
        "}\n";
    check_text(text, want, "JSON layout, escapes, U+FFFD and null");
    free(text);
}

/* Text output escapes as JSON does, but leaves quotes and backslashes. */
static char *text_of(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = text_vformat(fmt, ap);
    va_end(ap);
    return text;
}

static void test_text(void)
{
    char *text = text_of("class %d %s", 2, "\x1b[31mred\nq\" b\\ \xC2\x9b\xff");
    check_text(text, "class 2 \\u001b[31mred\\nq\" b\\ \\u009b\xEF\xBF\xBD",
               "text: control characters escaped, bad UTF-8 replaced");
    free(text);
}

/* --------------------------------------------------------------- options */

static struct {
    int runs;
    long count;
    double rate;
    bool verbose;
    int n_positional;
    const char *positional[4];
    int rc; /* what the range checks returned */
} seen;

static int record(const cli_args *args)
{
    seen.runs++;
    seen.rc = cli_long(args, "count", 7, 1, 10, &seen.count);
    if (seen.rc == CLI_EXIT_OK)
        seen.rc = cli_double(args, "rate", 0.25, 0, 1, &seen.rate);
    seen.verbose = cli_flag(args, "verbose");
    seen.n_positional = args->n_positional;
    for (int i = 0; i < args->n_positional && i < 4; i++)
        seen.positional[i] = args->positional[i];
    return seen.rc;
}

static const cli_option test_options[] = {
    {"count", 'n', "N", "a count"},
    {"rate", 'r', "R", "a rate"},
    {"verbose", 'v', NULL, "a flag"},
    CLI_OPTIONS_END,
};

static const cli_command test_command = {
    .name = "test",
    .summary = "Records its options",
    .synopsis = "FILE...",
    .options = test_options,
    .min_args = 1,
    .max_args = 3,
    .run = record,
};

/* Runs the test command on its arguments: RUN("x", "--count", "3"). */
#define RUN(...) run((const char *[]){__VA_ARGS__, NULL})

static int run(const char **args)
{
    char *argv[16] = {"test"};
    int argc = 1;
    while (argc < 16 && *args) argv[argc++] = (char *)*args++;
    memset(&seen, 0, sizeof seen);
    return cli_run(&test_command, argc, argv);
}

static void test_options_parse(void)
{
    int rc = RUN("a", "--count=3", "-vr", "0.5", "b", "--", "-c");
    check(rc == CLI_EXIT_OK && seen.count == 3 && seen.rate == 0.5 &&
              seen.verbose && seen.n_positional == 3 &&
              strcmp(seen.positional[0], "a") == 0 &&
              strcmp(seen.positional[1], "b") == 0 &&
              strcmp(seen.positional[2], "-c") == 0,
          "--name=value, flag clusters, positionals and --");

    rc = RUN("--count", "10", "-n4", "x");
    check(rc == CLI_EXIT_OK && seen.count == 4 && seen.rate == 0.25 &&
              !seen.verbose,
          "the last value wins; absent options fall back");

    struct {
        const char *arg, *value;
    } bad[] = {{"--count", "0"},  {"--count", "11"},  {"--count", "2x"},
               {"--count", ""},   {"--rate", "1.5"},  {"--rate", "nan"},
               {"--rate", "inf"}, {"--rate", "-0.1"}, {"--rate", "1e400"}};
    bool all_rejected = true;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        all_rejected &= RUN("x", bad[i].arg, bad[i].value) ==
                            CLI_EXIT_USAGE && seen.rc == CLI_EXIT_USAGE;
    check(all_rejected, "out-of-range and malformed numbers are usage errors");

    check(RUN("x", "--verbose=1") == CLI_EXIT_USAGE && !seen.runs,
          "a flag with a value is a usage error");
    check(RUN("x", "--count") == CLI_EXIT_USAGE && !seen.runs,
          "a missing value is a usage error");
    check(RUN("x", "--colour") == CLI_EXIT_USAGE && !seen.runs,
          "an unknown long option is a usage error");
    check(RUN("x", "-z") == CLI_EXIT_USAGE && !seen.runs,
          "an unknown short option is a usage error");
    check(RUN("--verbose") == CLI_EXIT_USAGE && !seen.runs,
          "too few positionals is a usage error");
    check(RUN("a", "b", "c", "d") == CLI_EXIT_USAGE && !seen.runs,
          "too many positionals is a usage error");

    /* Usage goes to stdout, which carries TAP: catch it in a file. */
    FILE *usage = tmpfile();
    int tap = dup(STDOUT_FILENO);
    fflush(stdout);
    dup2(fileno(usage), STDOUT_FILENO);
    rc = RUN("--help");
    fflush(stdout);
    dup2(tap, STDOUT_FILENO);
    close(tap);
    char text[1024] = "";
    rewind(usage);
    text[fread(text, 1, sizeof text - 1, usage)] = '\0';
    fclose(usage);
    check(rc == CLI_EXIT_OK && !seen.runs &&
              strstr(text, "usage: dg test [OPTIONS] FILE...") &&
              strstr(text, "  -n, --count N  a count\n") &&
              strstr(text, "  -v, --verbose  a flag\n"),
          "--help shows aligned usage without running");
}

/* ----------------------------------------------------------------- table */

static void test_table(void)
{
    char *text;
    size_t size;
    FILE *out = open_memstream(&text, &size);
    text_table t;
    table_init(&t, "rl", (const char *const[]){"n", "name"});
    table_cell(&t, "%d", 7);
    table_cell(&t, "caf\xC3\xA9");
    table_cell(&t, "%d", 1234);
    table_cell(&t, "x");
    int rc = table_print(&t, out, 2);
    table_init(&t, "lr", NULL);
    table_cell(&t, "caf\xC3\xA9");
    table_cell(&t, "1");
    table_cell(&t, "ab");
    table_cell(&t, "22");
    rc |= table_print(&t, out, 0);
    fclose(out);
    check(rc == CLI_EXIT_OK, "tables print");
    check_text(text,
               "     n  name\n"
               "     7  caf\xC3\xA9\n"
               "  1234  x\n"
               "caf\xC3\xA9   1\n"
               "ab    22\n",
               "columns align by characters, without trailing blanks");
    free(text);
}

int main(void)
{
    /* The parser's messages are expected; keep the TAP output clean. */
    if (!freopen("/dev/null", "w", stderr)) return 1;
    test_json();
    test_text();
    test_options_parse();
    test_table();
    printf("1..%d\n", checks);
    return failures != 0;
}
