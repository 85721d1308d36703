/* cli.c - option parsing, usage text and failure reporting for every
 * command. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Every command accepts --help; it is listed after the command's own. */
static const cli_option help_option = {"help", 'h', NULL, "show this help"};

/* The command being run, for the "dg COMMAND: " prefix of messages. */
static const char *current_command;

/* ------------------------------------------------------------------------ */
/* Reporting                                                                */
/* ------------------------------------------------------------------------ */

/* Every message starts here: "dg COMMAND: " and the caller's text, on a
 * line of its own even while a progress bar is drawn. */
static void report(const char *fmt, va_list ap)
{
    progress_clear();
    if (current_command)
        fprintf(stderr, "dg %s: ", current_command);
    else
        fputs("dg: ", stderr);
    /* Messages quote paths, names and details from files. */
    char *text = text_vformat(fmt, ap);
    fputs(text ? text : fmt, stderr);
    free(text);
}

int cli_fail(dg_status status, const char *what_fmt, ...)
{
    const char *detail = dg_last_error_detail();
    va_list ap;
    va_start(ap, what_fmt);
    report(what_fmt, ap);
    va_end(ap);
    fprintf(stderr, ": %s", dg_strerror(status));
    if (detail[0]) text_printf(stderr, ": %s", detail);
    fputc('\n', stderr);
    return CLI_EXIT_FAILURE;
}

void cli_warning(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_EXIT_FAILURE;
}

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(fmt, ap);
    va_end(ap);
    if (current_command)
        fprintf(stderr, "\nTry 'dg %s --help'.\n", current_command);
    else
        fputs("\nTry 'dg help'.\n", stderr);
    return CLI_EXIT_USAGE;
}

/* ------------------------------------------------------------------------ */
/* Option tables                                                            */
/* ------------------------------------------------------------------------ */

/* The command's options followed by --help; NULL past the end. */
static const cli_option *option_at(const cli_command *cmd, size_t index)
{
    size_t n = 0;
    while (cmd->options[n].name) n++;
    if (n >= CLI_MAX_OPTIONS) {
        fprintf(stderr, "dg %s: more than %d options\n", cmd->name,
                CLI_MAX_OPTIONS - 1);
        abort();
    }
    if (index < n) return &cmd->options[index];
    return index == n ? &help_option : NULL;
}

static int find_long(const cli_command *cmd, const char *name, size_t len)
{
    const cli_option *opt;
    for (size_t i = 0; (opt = option_at(cmd, i)); i++)
        if (strlen(opt->name) == len && strncmp(opt->name, name, len) == 0)
            return (int)i;
    return -1;
}

static int find_short(const cli_command *cmd, char name)
{
    const cli_option *opt;
    for (size_t i = 0; (opt = option_at(cmd, i)); i++)
        if (opt->short_name && opt->short_name == name) return (int)i;
    return -1;
}

/* Asking for an option the table lacks is a bug in the command. */
static int must_find(const cli_args *args, const char *name)
{
    int index = find_long(args->command, name, strlen(name));
    if (index < 0) {
        fprintf(stderr, "dg %s: option --%s is not in the table\n",
                args->command->name, name);
        abort();
    }
    return index;
}

bool cli_flag(const cli_args *args, const char *name)
{
    return args->present[must_find(args, name)];
}

const char *cli_value(const cli_args *args, const char *name)
{
    return args->values[must_find(args, name)];
}

int cli_long(const cli_args *args, const char *name, long fallback, long min,
             long max, long *out)
{
    const char *text = cli_value(args, name);
    if (!text) {
        *out = fallback;
        return CLI_EXIT_OK;
    }
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max)
        return cli_usage_error("--%s must be an integer from %ld to %ld, "
                               "not \"%s\"",
                               name, min, max, text);
    *out = v;
    return CLI_EXIT_OK;
}

int cli_double(const cli_args *args, const char *name, double fallback,
               double min, double max, double *out)
{
    const char *text = cli_value(args, name);
    if (!text) {
        *out = fallback;
        return CLI_EXIT_OK;
    }
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v) || v < min || v > max)
        return cli_usage_error("--%s must be a number from %g to %g, "
                               "not \"%s\"",
                               name, min, max, text);
    *out = v;
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* Usage                                                                    */
/* ------------------------------------------------------------------------ */

/* "-k, --top K" or "    --json": the left column of the option list. */
static int format_option(const cli_option *opt, char *buf, size_t size)
{
    char short_part[8] = "    ";
    if (opt->short_name) snprintf(short_part, sizeof short_part, "-%c, ",
                                  opt->short_name);
    return snprintf(buf, size, "%s--%s%s%s", short_part, opt->name,
                    opt->value ? " " : "", opt->value ? opt->value : "");
}

void cli_print_usage(const cli_command *cmd, FILE *out)
{
    fprintf(out, "usage: dg %s [OPTIONS]%s%s\n\n%s.\n", cmd->name,
            cmd->synopsis[0] ? " " : "", cmd->synopsis, cmd->summary);
    if (cmd->description) fprintf(out, "\n%s\n", cmd->description);

    const cli_option *opt;
    char left[128];
    int width = 0;
    for (size_t i = 0; (opt = option_at(cmd, i)); i++) {
        int w = format_option(opt, left, sizeof left);
        if (w > width) width = w;
    }
    fputs("\nOptions:\n", out);
    for (size_t i = 0; (opt = option_at(cmd, i)); i++) {
        format_option(opt, left, sizeof left);
        fprintf(out, "  %-*s  %s\n", width, left, opt->help);
    }
}

/* ------------------------------------------------------------------------ */
/* Parsing                                                                  */
/* ------------------------------------------------------------------------ */

/* Outcome of parsing besides an exit code: run the command, or show help. */
enum { PARSE_RUN = -1, PARSE_HELP = -2 };

/* Stores option `index`, taking its value from `inline_value` or the next
 * argument.  Returns PARSE_RUN or a usage error. */
static int take_option(cli_args *args, int index, const char *spelled,
                       const char *inline_value, int argc, char **argv,
                       int *next)
{
    const cli_option *opt = option_at(args->command, (size_t)index);
    args->present[index] = true;
    if (!opt->value) {
        if (inline_value)
            return cli_usage_error("%s takes no value", spelled);
        return PARSE_RUN;
    }
    if (!inline_value) {
        if (*next >= argc)
            return cli_usage_error("%s needs a value (%s)", spelled,
                                   opt->value);
        inline_value = argv[(*next)++];
    }
    args->values[index] = inline_value;
    return PARSE_RUN;
}

/* "--name", "--name=value", "--name value". */
static int parse_long_option(cli_args *args, const char *arg, int argc,
                             char **argv, int *next)
{
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    int index = find_long(args->command, name, len);
    if (index < 0)
        return cli_usage_error("unknown option --%.*s", (int)len, name);
    char spelled[96];
    snprintf(spelled, sizeof spelled, "--%.*s", (int)len, name);
    return take_option(args, index, spelled, eq ? eq + 1 : NULL, argc, argv,
                       next);
}

/* "-q", "-k 5", "-k5", and clusters of flags such as "-qk5". */
static int parse_short_options(cli_args *args, const char *arg, int argc,
                               char **argv, int *next)
{
    for (const char *c = arg + 1; *c; c++) {
        int index = find_short(args->command, *c);
        if (index < 0) return cli_usage_error("unknown option -%c", *c);
        char spelled[3] = {'-', *c, '\0'};
        const char *rest = c[1] ? c + 1 : NULL;
        bool takes_value = option_at(args->command, (size_t)index)->value;
        int rc = take_option(args, index, spelled, takes_value ? rest : NULL,
                             argc, argv, next);
        if (rc != PARSE_RUN || takes_value) return rc;
    }
    return PARSE_RUN;
}

static int parse(cli_args *args, int argc, char **argv)
{
    bool options_done = false;
    int next = 1;
    while (next < argc) {
        const char *arg = argv[next++];
        int rc = PARSE_RUN;
        if (options_done || arg[0] != '-' || strcmp(arg, "-") == 0)
            args->positional[args->n_positional++] = (char *)arg;
        else if (strcmp(arg, "--") == 0)
            options_done = true;
        else if (arg[1] == '-')
            rc = parse_long_option(args, arg, argc, argv, &next);
        else
            rc = parse_short_options(args, arg, argc, argv, &next);
        if (rc != PARSE_RUN) return rc;
        if (cli_flag(args, help_option.name)) return PARSE_HELP;
    }
    const cli_command *cmd = args->command;
    if (args->n_positional < cmd->min_args ||
        (cmd->max_args >= 0 && args->n_positional > cmd->max_args))
        return cli_usage_error("expected %s, got %d argument%s",
                               cmd->synopsis[0] ? cmd->synopsis
                                                : "no arguments",
                               args->n_positional,
                               args->n_positional == 1 ? "" : "s");
    return PARSE_RUN;
}

int required_value(const cli_args *args, const char *name, const char **out)
{
    *out = cli_value(args, name);
    if (!*out) return cli_usage_error("--%s is required", name);
    return CLI_EXIT_OK;
}

const char *cli_class_name(const dg_model *m, uint32_t k)
{
    const char *name = "";
    dg_model_class_name(m, k, &name); /* k < the outputs: cannot fail */
    return name;
}

int cli_load_model(const char *path, dg_model **out)
{
    dg_status st = dg_model_load_file(path, out);
    return st == DG_OK ? CLI_EXIT_OK : cli_fail(st, "loading %s", path);
}

int cli_load_model_option(const cli_args *args, const char *name,
                          dg_model **out)
{
    const char *path;
    int rc = required_value(args, name, &path);
    return rc == CLI_EXIT_OK ? cli_load_model(path, out) : rc;
}

static const cli_named *find_named(const cli_named *table,
                                     const char *name)
{
    for (; table->name; table++)
        if (strcmp(table->name, name) == 0) return table;
    return NULL;
}

const char *cli_name_of(const cli_named *table, int32_t value)
{
    for (; table->name; table++)
        if (table->value == value) return table->name;
    return "?";
}

int cli_choice(const cli_args *args, const char *option,
               const cli_named *table, const char *fallback, int32_t *out)
{
    const char *text = cli_value(args, option);
    if (!text && !fallback) return CLI_EXIT_OK;
    const cli_named *found = find_named(table, text ? text : fallback);
    if (found) {
        *out = found->value;
        return CLI_EXIT_OK;
    }
    char choices[128] = ""; /* "constant, step or cosine" */
    size_t used = 0;
    for (const cli_named *v = table; v->name && used < sizeof choices; v++)
        used += (size_t)snprintf(choices + used, sizeof choices - used,
                                 "%s%s", v == table ? ""
                                         : v[1].name ? ", " : " or ",
                                 v->name);
    return cli_usage_error("--%s must be %s, not \"%s\"", option, choices,
                           text);
}

/* One field of cli_read_fields, whose value is the default. */
static int read_field(const cli_args *args, const cli_field *f, void *field)
{
    uint32_t *u32 = field;
    uint64_t *u64 = field;
    float *f32 = field;
    long integer = 0;
    double number = 0;
    int rc;
    if (f->kind == CLI_F32) {
        rc = cli_double(args, f->name, *f32, f->min, f->max, &number);
        if (rc == CLI_EXIT_OK) *f32 = (float)number;
        return rc;
    }
    long current = f->kind == CLI_U32 ? (long)*u32 : (long)*u64;
    rc = cli_long(args, f->name, current, (long)f->min, (long)f->max,
                  &integer);
    if (rc == CLI_EXIT_OK && f->kind == CLI_U32) *u32 = (uint32_t)integer;
    if (rc == CLI_EXIT_OK && f->kind == CLI_U64) *u64 = (uint64_t)integer;
    return rc;
}

int cli_read_fields(const cli_args *args, const cli_field *fields, size_t n,
                    void *base)
{
    int rc = CLI_EXIT_OK;
    for (size_t k = 0; rc == CLI_EXIT_OK && k < n; k++)
        rc = read_field(args, &fields[k], (char *)base + fields[k].offset);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Data                                                                     */
/* ------------------------------------------------------------------------ */

/* Longest class list --classes may expand to ("0-99999" and the like). */
enum { MAX_LISTED_CLASSES = 65536 };

/* One number of a class list, advancing *text past it. */
static bool parse_class_number(const char **text, long *out)
{
    char *end;
    errno = 0;
    *out = strtol(*text, &end, 10);
    bool ok = end != *text && **text >= '0' && **text <= '9' && !errno &&
              *out < MAX_LISTED_CLASSES;
    *text = end;
    return ok;
}

/* "0,1,2", "5-9" or a mix into a malloc'ed list; duplicates and classes the
 * data lacks are left for the library to report. */
static int parse_class_list(const char *text, int32_t **out, uint32_t *n)
{
    int32_t *list = malloc(MAX_LISTED_CLASSES * sizeof *list);
    if (!list) return cli_error("out of memory");
    uint32_t count = 0;
    const char *p = text;
    for (;;) {
        long first, last;
        bool ok = parse_class_number(&p, &first);
        last = first;
        if (ok && *p == '-') {
            p++;
            ok = parse_class_number(&p, &last) && last >= first;
        }
        ok = ok && (*p == ',' || *p == '\0') &&
             count + (uint32_t)(last - first) < MAX_LISTED_CLASSES;
        if (!ok) {
            free(list);
            return cli_usage_error("--classes must list class numbers such "
                                   "as 0,1,2 or 0-4, not \"%s\"",
                                   text);
        }
        for (long k = first; k <= last; k++) list[count++] = (int32_t)k;
        if (*p++ == '\0') break;
    }
    *out = list;
    *n = count;
    return CLI_EXIT_OK;
}

int data_open(const char *spec, const uint32_t shape[3], const char *classes,
              uint32_t skip, uint32_t per_class, class_data *out)
{
    memset(out, 0, sizeof *out);
    dg_dataset_spec_opts o;
    dg_dataset_spec_opts_init(&o, sizeof o);
    o.channels = shape[0];
    o.height = shape[1];
    o.width = shape[2];
    o.skip_per_class = skip;
    o.per_class = per_class;
    int32_t *list = NULL;
    int rc = classes ? parse_class_list(classes, &list, &o.n_classes)
                     : CLI_EXIT_OK;
    if (rc != CLI_EXIT_OK) return rc;
    o.classes = list;
    dg_status st = dg_dataset_open_spec(spec, &o, &out->samples);
    free(list);
    if (st == DG_OK) st = dg_dataset_class_count(out->samples, &out->n_classes);
    if (st == DG_E_INVALID_ARG) /* a malformed spec */
        return cli_usage_error("%s", dg_last_error_detail());
    return st == DG_OK ? CLI_EXIT_OK : cli_fail(st, "loading %s", spec);
}

void data_free(class_data *d)
{
    dg_dataset_free(d->samples);
    memset(d, 0, sizeof *d);
}

int cli_numbers(const cli_args *args, const char *name, const char *expected,
                bool (*valid)(double), double *values, uint32_t capacity,
                uint32_t *n)
{
    const char *text = cli_value(args, name);
    *n = 0;
    if (!text) return CLI_EXIT_OK;
    for (const char *p = text;; p++) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || *n == capacity || !valid(v) ||
            (*end != ',' && *end != '\0'))
            return cli_usage_error("--%s must list 1 to %u %s, not \"%s\"",
                                   name, capacity, expected, text);
        values[(*n)++] = v;
        if (*end == '\0') return CLI_EXIT_OK;
        p = end;
    }
}

int cli_run(const cli_command *cmd, int argc, char **argv)
{
    current_command = cmd->name;
    cli_args args = {.command = cmd};
    args.positional = malloc((size_t)argc * sizeof *args.positional);
    if (!args.positional) return cli_error("out of memory");

    int rc = parse(&args, argc, argv);
    if (rc == PARSE_HELP) {
        cli_print_usage(cmd, stdout);
        rc = CLI_EXIT_OK;
    } else if (rc == PARSE_RUN) {
        int quiet = find_long(cmd, "quiet", strlen("quiet"));
        progress_set_enabled(quiet < 0 || !args.present[quiet]);
        rc = cmd->run(&args);
    }
    free(args.positional);
    return rc;
}

int cli_check_output(int rc)
{
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout)) return rc;
    int write_rc = cli_error("writing the output: %s",
                             errno ? strerror(errno) : "write error");
    return rc == CLI_EXIT_OK ? write_rc : rc;
}

/* ------------------------------------------------------------------------ */
/* Text tables and reports                                                  */
/* ------------------------------------------------------------------------ */

int table_print(text_table *t, FILE *out, size_t indent)
{
    return table_write(t, out, indent) ? CLI_EXIT_OK
                                       : cli_error("out of memory");
}

/* Formats the report into text (capacity bytes; NULL: the size only). */
static dg_status format_report(const cli_report *r, int32_t format,
                               char *text, size_t capacity, size_t *length)
{
    if (r->eval)
        return dg_eval_format_report(r->eval, format, text, capacity, length);
    if (r->scenario)
        return dg_scenario_format_report(r->scenario, format, text, capacity,
                                         length);
    if (r->guard)
        return dg_guard_format_report(r->guard, format, r->opts, text,
                                      capacity, length);
    if (r->verdict)
        return dg_verdict_format_report(r->verdict, r->model, r->name, format,
                                        text, capacity, length);
    if (r->confusion)
        return dg_model_format_accuracy(r->model, r->confusion,
                                        r->confusion_len, r->name,
                                        r->data_name, format, text, capacity,
                                        length);
    return dg_model_format_report(r->model, r->name, format, text, capacity,
                                  length);
}

int cli_format_report(const cli_report *r, int32_t format, char **text)
{
    size_t length;
    *text = NULL;
    dg_status st = format_report(r, format, NULL, 0, &length);
    if (st == DG_OK && !(*text = malloc(length)))
        return cli_error("out of memory");
    if (st == DG_OK) st = format_report(r, format, *text, length, &length);
    if (st == DG_OK) return CLI_EXIT_OK;
    free(*text);
    *text = NULL;
    return cli_fail(st, "formatting the report");
}

int cli_print_report(const cli_report *r, int32_t format)
{
    char *text;
    int rc = cli_format_report(r, format, &text);
    if (rc == CLI_EXIT_OK) fputs(text, stdout);
    free(text);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Image files                                                              */
/* ------------------------------------------------------------------------ */

void image_reader_init(image_reader *r, const dg_model *model)
{
    memset(r, 0, sizeof *r);
    r->model = model;
    r->input.struct_size = sizeof r->input;
    dg_model_preprocess(model, &r->input); /* a loaded model: cannot fail */
}

dg_status image_reader_load(image_reader *r, const char *path, float *out,
                            size_t out_len)
{
    dg_image_info info = {.struct_size = sizeof info};
    dg_status st = dg_image_probe_file(path, &info);
    if (st != DG_OK) return st;
    st = dg_image_load_file(r->model, path, out, out_len);
    if (st == DG_OK &&
        (info.width != r->input.width || info.height != r->input.height ||
         info.channels != r->input.channels)) {
        if (r->converted++ == 0) {
            r->first_file = path;
            r->first_info = info;
        }
    }
    return st;
}

static const char *colour_name(uint32_t channels)
{
    return channels == 1 ? "gray" : "colour";
}

void image_reader_warn(const image_reader *r, uint32_t total)
{
    if (r->converted == 0) return;
    cli_warning("warning: %u of %u images were converted to the model's %ux%u %s "
                "input (%s is %ux%u %s); results on them may mean little",
                r->converted, total, r->input.width, r->input.height,
                colour_name(r->input.channels), r->first_file,
                r->first_info.width, r->first_info.height,
                colour_name(r->first_info.channels));
}
