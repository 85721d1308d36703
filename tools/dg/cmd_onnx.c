/* cmd_onnx.c - `dg import MODEL.onnx -o MODEL.dgm` and `dg export`: ONNX
 * models in and out (doc/onnx.md).  export writes a model file, one
 * differentiator of a guard as a whole model (the Student's layers it
 * shares followed by its own), or every differentiator of a guard. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "commands.h"
#include "train_common.h"

/* What the one-line report says about a model. */
typedef struct model_shape {
    uint32_t layers, channels, height, width, outputs;
    uint64_t parameters;
} model_shape;

static dg_status describe(const dg_model *m, model_shape *s)
{
    memset(s, 0, sizeof *s);
    dg_status st = dg_model_layer_count(m, &s->layers);
    if (st == DG_OK)
        st = dg_model_input_shape(m, &s->channels, &s->height, &s->width);
    if (st == DG_OK) st = dg_model_output_size(m, &s->outputs);
    for (uint32_t i = 0; i < s->layers && st == DG_OK; i++) {
        dg_layer_info l = {.struct_size = sizeof l};
        st = dg_model_layer_info(m, i, &l);
        s->parameters += l.param_count;
    }
    return st;
}

static void print_shape(const model_shape *s)
{
    printf("%u layers, input %ux%ux%u, %u outputs, %llu parameters",
           s->layers, s->channels, s->height, s->width, s->outputs,
           (unsigned long long)s->parameters);
}

static void json_shape_fields(json_writer *w, const model_shape *s)
{
    json_put_int(w, "layers", s->layers);
    json_key(w, "input");
    json_begin_array(w);
    json_int(w, s->channels);
    json_int(w, s->height);
    json_int(w, s->width);
    json_end_array(w);
    json_put_int(w, "outputs", s->outputs);
    json_put_int(w, "parameters", (int64_t)s->parameters);
}

/* ------------------------------------------------------------------------ */
/* dg import                                                                */
/* ------------------------------------------------------------------------ */

static int import_report(const cli_args *args, const dg_model *m,
                         const char *onnx, const char *output)
{
    model_shape s;
    dg_status st = describe(m, &s);
    if (st != DG_OK) return cli_fail(st, "reading %s", output);
    if (!cli_flag(args, "json")) {
        printf("%s: ", output);
        print_shape(&s);
        printf(" (from %s)\n", onnx);
        return CLI_EXIT_OK;
    }
    json_writer w;
    json_init(&w, stdout);
    json_begin_object(&w);
    json_put_string(&w, "onnx", onnx);
    json_put_string(&w, "model", output);
    json_shape_fields(&w, &s);
    json_key(&w, "classes");
    json_begin_array(&w);
    for (uint32_t k = 0; k < s.outputs; k++)
        json_string(&w, cli_class_name(m, k));
    json_end_array(&w);
    json_end_object(&w);
    return CLI_EXIT_OK;
}

static bool is_finite_number(double v) { return isfinite(v); }

/* --mean or --std: one value for every channel, or one per channel. */
static int read_channel_values(const cli_args *args, const char *name,
                               uint32_t channels, float *values)
{
    double read[3];
    uint32_t n;
    int rc = cli_numbers(args, name, "numbers", is_finite_number, read, 3, &n);
    if (rc != CLI_EXIT_OK || n == 0) return rc;
    if (n == 1 || n == channels) {
        for (uint32_t c = 0; c < channels; c++)
            values[c] = (float)read[n == 1 ? 0 : c];
        return CLI_EXIT_OK;
    }
    if (channels == 1)
        return cli_usage_error("--%s must be one number for the model's one "
                               "channel, not \"%s\"",
                               name, cli_value(args, name));
    return cli_usage_error("--%s must give 1 or %u numbers, not \"%s\"", name,
                           channels, cli_value(args, name));
}

/* What ONNX does not carry: how the exporter normalised its inputs, as
 * torchvision's Normalize(mean, std) on pixels scaled to [0, 1]. */
static int set_normalisation(const cli_args *args, dg_model *m)
{
    dg_preprocess p = {.struct_size = sizeof p};
    dg_status st = dg_model_preprocess(m, &p);
    if (st != DG_OK) return cli_fail(st, "reading the preprocessing");
    int rc = read_channel_values(args, "mean", p.channels, p.mean);
    if (rc == CLI_EXIT_OK) rc = read_channel_values(args, "std", p.channels, p.std);
    if (rc != CLI_EXIT_OK) return rc;
    st = dg_model_set_preprocess(m, &p);
    return st == DG_OK ? CLI_EXIT_OK : cli_fail(st, "setting --mean and --std");
}

static int run_import(const cli_args *args)
{
    const char *onnx = args->positional[0], *output;
    int rc = required_value(args, "output", &output);
    if (rc != CLI_EXIT_OK) return rc;
    dg_model *m;
    dg_status st = dg_model_import_onnx_file(onnx, &m);
    if (st != DG_OK) return cli_fail(st, "importing %s", onnx);
    const char *names = cli_value(args, "class-names");
    if (names) {
        class_data none = {0};
        rc = name_classes(m, &none, names);
    }
    if (rc == CLI_EXIT_OK) rc = set_normalisation(args, m);
    st = rc == CLI_EXIT_OK ? dg_model_save_file(m, output) : DG_OK;
    if (st != DG_OK) rc = cli_fail(st, "writing %s", output);
    if (rc == CLI_EXIT_OK) rc = import_report(args, m, onnx, output);
    dg_model_free(m);
    return rc;
}

static const cli_option import_options[] = {
    {"output", 'o', "MODEL", "the model file to write"},
    {"class-names", 0, "A,B,...", "name the classes (default: the file's "
                                  "metadata, or no names)"},
    {"mean", 0, "M[,M,M]", "subtracted from pixels in [0,1], per channel, "
                           "as the exporter normalised (default: the "
                           "metadata's, or 0)"},
    {"std", 0, "S[,S,S]", "then divided by, per channel (default: the "
                          "metadata's, or 1)"},
    CLI_OPTION_JSON,
    CLI_OPTIONS_END,
};

const cli_command cmd_import = {
    .name = "import",
    .summary = "Convert an ONNX model into a model file",
    .synopsis = "MODEL.onnx",
    .description =
        "Reads the operators doc/onnx.md lists (Conv, Gemm, pooling, batch "
        "norm, Add,\nSoftmax, ...); anything else is refused with the node "
        "it found.  A file dg export wrote carries the preprocessing and "
        "class names\nin its metadata, and they are kept.  Other files do "
        "not say how inputs were\nmade: the model takes pixels scaled to "
        "[0, 1], then (x - mean) / std with\n--mean and --std (a PyTorch "
        "model trained with Normalize(mean, std) needs the\nsame values), "
        "and has the names --class-names gives, or none.  The options\n"
        "replace what the metadata says.  The model file is written "
        "atomically.",
    .options = import_options,
    .min_args = 1,
    .max_args = 1,
    .run = run_import,
};

/* ------------------------------------------------------------------------ */
/* dg export                                                                */
/* ------------------------------------------------------------------------ */

/* A guard and its Student, for exporting differentiators. */
typedef struct guard_source {
    const char *guard_path, *student_path;
    dg_model *student;
    dg_guard *guard;
    dg_guard_info info;
} guard_source;

static int open_guard(guard_source *g)
{
    int rc = cli_load_model(g->student_path, &g->student);
    if (rc != CLI_EXIT_OK) return rc;
    dg_status st = dg_guard_load_file(g->guard_path, g->student, &g->guard);
    if (st != DG_OK)
        return cli_fail(st, "loading the guard %s for %s", g->guard_path,
                        g->student_path);
    g->info.struct_size = sizeof g->info;
    st = dg_guard_get_info(g->guard, &g->info);
    if (st != DG_OK) return cli_fail(st, "reading %s", g->guard_path);
    return CLI_EXIT_OK;
}

static void close_guard(guard_source *g)
{
    dg_guard_free(g->guard);
    dg_model_free(g->student);
}

/* Writes m as ONNX to path and describes it into s. */
static int write_onnx(const dg_model *m, const char *path, model_shape *s)
{
    dg_status st = dg_model_export_onnx_file(m, path);
    if (st != DG_OK) return cli_fail(st, "writing %s", path);
    st = describe(m, s);
    if (st != DG_OK) return cli_fail(st, "reading the model of %s", path);
    return CLI_EXIT_OK;
}

static int export_model(const cli_args *args, const char *path,
                        const char *output)
{
    dg_model *m;
    model_shape s;
    int rc = cli_load_model(path, &m);
    if (rc != CLI_EXIT_OK) return rc;
    rc = write_onnx(m, output, &s);
    dg_model_free(m);
    if (rc != CLI_EXIT_OK) return rc;
    if (!cli_flag(args, "json")) {
        printf("%s: ", output);
        print_shape(&s);
        printf(" (from %s)\n", path);
        return CLI_EXIT_OK;
    }
    json_writer w;
    json_init(&w, stdout);
    json_begin_object(&w);
    json_put_string(&w, "model", path);
    json_put_string(&w, "onnx", output);
    json_shape_fields(&w, &s);
    json_end_object(&w);
    return CLI_EXIT_OK;
}

/* One exported differentiator, for the report. */
typedef struct exported {
    uint32_t cls, rank;
    char path[4096];
    model_shape shape;
} exported;

/* Exports differentiator (e->cls, e->rank) to e->path. */
static int export_member(const guard_source *g, exported *e)
{
    dg_model *m;
    dg_status st = dg_guard_member_model(g->guard, e->cls, e->rank, &m);
    if (st != DG_OK)
        return cli_fail(st, "differentiator %u of class %u in %s", e->rank,
                        e->cls, g->guard_path);
    int rc = write_onnx(m, e->path, &e->shape);
    dg_model_free(m);
    return rc;
}

static void json_member(json_writer *w, const guard_source *g,
                        const exported *e)
{
    json_begin_object(w);
    json_put_int(w, "class", e->cls);
    json_put_string(w, "name", cli_class_name(g->student, e->cls));
    json_put_int(w, "rank", e->rank);
    json_put_string(w, "onnx", e->path);
    json_shape_fields(w, &e->shape);
    json_end_object(w);
}

static void print_member(const guard_source *g, const exported *e)
{
    const char *name = cli_class_name(g->student, e->cls);
    text_printf(stdout, "%s: class %u%s%s rank %u, ", e->path, e->cls,
                name[0] ? " " : "", name, e->rank);
    print_shape(&e->shape);
    putchar('\n');
}

static void json_guard_start(json_writer *w, const guard_source *g)
{
    json_init(w, stdout);
    json_begin_object(w);
    json_put_string(w, "guard", g->guard_path);
    json_put_string(w, "student", g->student_path);
}

/* --class C [--rank R] -o OUT */
static int export_one(const cli_args *args, const guard_source *g,
                      const char *output)
{
    long cls, rank;
    int rc = cli_long(args, "class", 0, 0, (long)g->info.classes - 1, &cls);
    if (rc == CLI_EXIT_OK)
        rc = cli_long(args, "rank", 0, 0, (long)g->info.variants - 1, &rank);
    if (rc != CLI_EXIT_OK) return rc;
    exported e = {.cls = (uint32_t)cls, .rank = (uint32_t)rank};
    if (strlen(output) >= sizeof e.path)
        return cli_usage_error("the output path is too long");
    strcpy(e.path, output);
    rc = export_member(g, &e);
    if (rc != CLI_EXIT_OK) return rc;
    if (!cli_flag(args, "json")) {
        print_member(g, &e);
        return CLI_EXIT_OK;
    }
    json_writer w;
    json_guard_start(&w, g);
    json_key(&w, "differentiator");
    json_member(&w, g, &e);
    json_end_object(&w);
    return CLI_EXIT_OK;
}

/* --all DIR: DIR/classC-rankR.onnx for every class and rank. */
static int export_all(const cli_args *args, const guard_source *g,
                      const char *dir)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return cli_error("creating %s: %s", dir, strerror(errno));
    size_t n = (size_t)g->info.classes * g->info.variants;
    exported *all = calloc(n, sizeof *all);
    if (!all) return cli_error("out of memory");
    int rc = CLI_EXIT_OK;
    for (size_t i = 0; i < n && rc == CLI_EXIT_OK; i++) {
        exported *e = &all[i];
        e->cls = (uint32_t)(i / g->info.variants);
        e->rank = (uint32_t)(i % g->info.variants);
        int len = snprintf(e->path, sizeof e->path, "%s/class%u-rank%u.onnx",
                           dir, e->cls, e->rank);
        if (len < 0 || (size_t)len >= sizeof e->path)
            rc = cli_usage_error("the path of --all is too long");
        else
            rc = export_member(g, e);
    }
    if (rc == CLI_EXIT_OK && cli_flag(args, "json")) {
        json_writer w;
        json_guard_start(&w, g);
        json_put_string(&w, "directory", dir);
        json_key(&w, "differentiators");
        json_begin_array(&w);
        for (size_t i = 0; i < n; i++) json_member(&w, g, &all[i]);
        json_end_array(&w);
        json_end_object(&w);
    } else if (rc == CLI_EXIT_OK) {
        for (size_t i = 0; i < n; i++) print_member(g, &all[i]);
    }
    free(all);
    return rc;
}

/* Which options go together: MODEL -o OUT, or --guard --student with
 * either --class [--rank] -o OUT or --all DIR. */
static int check_combination(const cli_args *args)
{
    static const char *const guard_only[] = {"student", "class", "rank",
                                             "all"};
    bool from_guard = cli_value(args, "guard") != NULL;
    if (!from_guard) {
        for (size_t i = 0; i < 4; i++)
            if (cli_value(args, guard_only[i]))
                return cli_usage_error("--%s goes with --guard",
                                       guard_only[i]);
        if (args->n_positional != 1)
            return cli_usage_error("expected MODEL, or --guard GUARD "
                                   "--student STUDENT");
        if (!cli_value(args, "output"))
            return cli_usage_error("--output is required");
        return CLI_EXIT_OK;
    }
    if (args->n_positional != 0)
        return cli_usage_error("a MODEL does not go with --guard; the "
                               "Student is --student");
    if (!cli_value(args, "student"))
        return cli_usage_error("--guard needs --student");
    bool all = cli_value(args, "all") != NULL;
    if (all && cli_value(args, "output"))
        return cli_usage_error("--all DIR does not go with --output");
    if (all && (cli_value(args, "class") || cli_value(args, "rank")))
        return cli_usage_error("--all exports every class and rank; it "
                               "does not go with --%s",
                               cli_value(args, "class") ? "class" : "rank");
    if (!all && !cli_value(args, "class"))
        return cli_usage_error("--guard needs --class C (with --output) or "
                               "--all DIR");
    if (!all && !cli_value(args, "output"))
        return cli_usage_error("--output is required");
    return CLI_EXIT_OK;
}

static int run_export(const cli_args *args)
{
    int rc = check_combination(args);
    if (rc != CLI_EXIT_OK) return rc;
    const char *output = cli_value(args, "output");
    if (!cli_value(args, "guard"))
        return export_model(args, args->positional[0], output);
    guard_source g = {.guard_path = cli_value(args, "guard"),
                      .student_path = cli_value(args, "student")};
    rc = open_guard(&g);
    if (rc == CLI_EXIT_OK) {
        const char *dir = cli_value(args, "all");
        rc = dir ? export_all(args, &g, dir) : export_one(args, &g, output);
    }
    close_guard(&g);
    return rc;
}

static const cli_option export_options[] = {
    {"output", 'o', "FILE", "the ONNX file to write"},
    {"guard", 'g', "GUARD", "export a differentiator of this guard"},
    {"student", 's', "MODEL", "the Student the guard defends"},
    {"class", 'c', "C", "the class of the differentiator"},
    {"rank", 'r', "R", "its rank, 0 the best (default 0)"},
    {"all", 0, "DIR", "write every differentiator as "
                      "DIR/classC-rankR.onnx"},
    CLI_OPTION_JSON,
    CLI_OPTIONS_END,
};

const cli_command cmd_export = {
    .name = "export",
    .summary = "Write a model, or a guard's differentiators, as ONNX",
    .synopsis = "[MODEL]",
    .description =
        "  dg export MODEL -o MODEL.onnx\n"
        "  dg export --guard GUARD --student MODEL --class C [--rank R] "
        "-o OUT.onnx\n"
        "  dg export --guard GUARD --student MODEL --all DIR\n\n"
        "Any model file (a Teacher, a Student) exports as it is.  A "
        "differentiator\nexports as a whole model: the Student's layers it "
        "shares followed by its own,\nwith pruned units as zero weights, so "
        "another runtime can compute what the\nvalidator computes.  The "
        "preprocessing (diffguard.scale, .mean, .std) and class\nnames "
        "(diffguard.class_names) go into the ONNX metadata_props; the "
        "output is\nlogits unless the model ends in softmax "
        "(diffguard.output says which).  Files\nare written atomically "
        "(doc/onnx.md).",
    .options = export_options,
    .min_args = 0,
    .max_args = 1,
    .run = run_export,
};
