/* text.h - text that reports print: a streaming JSON writer, text from
 * files made safe for a terminal, and aligned text tables.  Nothing here
 * calls the library: the reports (lib/report) and the dg command line,
 * which compiles json.c and table.c into itself, share the one
 * implementation, so dg's own JSON and tables look like the reports'. */
#ifndef DG_REPORT_TEXT_H
#define DG_REPORT_TEXT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(__GNUC__)
#define TEXT_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define TEXT_PRINTF(fmt, args)
#endif

/* ------------------------------------------------------------------------ */
/* Text from files (json.c)                                                 */
/* ------------------------------------------------------------------------ */

/* Class names, layer names, file names and details may hold anything:
 * text output escapes control characters and invalid UTF-8 as the JSON
 * output does (\n, \u001b, U+FFFD), so none reaches the terminal raw. */
/* fmt and its arguments formatted, then escaped (a newline in fmt too):
 * a malloc'd string, or NULL when out of memory. */
char *text_vformat(const char *fmt, va_list ap);
/* Prints text_vformat's string. */
void text_printf(FILE *out, const char *fmt, ...) TEXT_PRINTF(2, 3);

/* ------------------------------------------------------------------------ */
/* Streaming JSON writer (json.c)                                           */
/* ------------------------------------------------------------------------ */

#define JSON_MAX_DEPTH 32

/* Writes indented JSON; commas and indentation are automatic.  Inside an
 * object, call json_key before each value. */
typedef struct json_writer {
    FILE *out;
    int depth;
    bool has_items[JSON_MAX_DEPTH]; /* the open container is not empty */
    bool after_key;                 /* the next value follows a key */
    /* A container opened deeper than JSON_MAX_DEPTH or closed that was
     * not open: a bug in the caller, after which nothing is written. */
    bool failed;
} json_writer;

void json_init(json_writer *w, FILE *out);
void json_begin_object(json_writer *w);
void json_end_object(json_writer *w);
void json_begin_array(json_writer *w);
void json_end_array(json_writer *w);
void json_key(json_writer *w, const char *key);
/* Invalid UTF-8 becomes U+FFFD, so any C string makes valid JSON. */
void json_string(json_writer *w, const char *s);
/* Enough digits to give back the same float; NaN and infinities as null. */
void json_number(json_writer *w, double value);
void json_int(json_writer *w, int64_t value);
void json_bool(json_writer *w, bool value);
/* A value that a json_writer wrote as a whole document (such as a
 * library report), indented to its place here. */
void json_raw(json_writer *w, const char *json);
/* json_key and then the value: one member of the open object. */
void json_put_string(json_writer *w, const char *key, const char *s);
void json_put_number(json_writer *w, const char *key, double value);
void json_put_int(json_writer *w, const char *key, int64_t value);
void json_put_bool(json_writer *w, const char *key, bool value);

/* ------------------------------------------------------------------------ */
/* Aligned text tables (table.c)                                            */
/* ------------------------------------------------------------------------ */

#define TABLE_MAX_COLUMNS 16

/* Collects cells row by row, then prints every column as wide as its
 * widest cell. */
typedef struct text_table {
    const char *align; /* one letter per column: 'l'eft or 'r'ight */
    size_t n_columns;
    char **cells; /* row-major, starting with the header row if any */
    size_t n_cells, capacity;
    bool failed; /* out of memory, or align has 0 or too many columns */
} text_table;

/* headers has one entry per letter of align (at most TABLE_MAX_COLUMNS),
 * or is NULL for a table without a header row. */
void table_init(text_table *t, const char *align, const char *const *headers);
/* Appends the next cell; rows wrap after the last column. */
void table_cell(text_table *t, const char *fmt, ...) TEXT_PRINTF(2, 3);
/* Prints the table indented by `indent` spaces and frees it.  False when
 * it failed (nothing is printed then): a cell did not fit in memory. */
bool table_write(text_table *t, FILE *out, size_t indent);

#endif
