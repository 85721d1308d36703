/* table.c - aligned text tables for human-readable output. */
#include "text.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void table_init(text_table *t, const char *align, const char *const *headers)
{
    memset(t, 0, sizeof *t);
    t->align = align;
    t->n_columns = strlen(align);
    /* A bug in the caller; table_write then fails. */
    if (t->n_columns == 0 || t->n_columns > TABLE_MAX_COLUMNS) {
        t->failed = true;
        return;
    }
    for (size_t c = 0; headers && c < t->n_columns; c++)
        table_cell(t, "%s", headers[c]);
}

void table_cell(text_table *t, const char *fmt, ...)
{
    if (t->failed) return;
    if (t->n_cells == t->capacity) {
        size_t capacity = t->capacity ? 2 * t->capacity : 64;
        char **cells = realloc(t->cells, capacity * sizeof *cells);
        if (!cells) {
            t->failed = true;
            return;
        }
        t->cells = cells;
        t->capacity = capacity;
    }
    /* Cells show class names, paths and other text from files. */
    va_list ap;
    va_start(ap, fmt);
    char *cell = text_vformat(fmt, ap);
    va_end(ap);
    if (!cell) {
        t->failed = true;
        return;
    }
    t->cells[t->n_cells++] = cell;
}

/* Columns the text takes on a terminal: one per UTF-8 character. */
static size_t display_width(const char *s)
{
    size_t width = 0;
    for (; *s; s++) width += ((unsigned char)*s & 0xC0) != 0x80;
    return width;
}

static void pad(FILE *out, size_t n)
{
    while (n-- > 0) fputc(' ', out);
}

static void print_rows(const text_table *t, FILE *out, size_t indent)
{
    size_t width[TABLE_MAX_COLUMNS] = {0};
    for (size_t i = 0; i < t->n_cells; i++) {
        size_t w = display_width(t->cells[i]);
        if (w > width[i % t->n_columns]) width[i % t->n_columns] = w;
    }
    for (size_t i = 0; i < t->n_cells; i++) {
        size_t column = i % t->n_columns;
        bool last = column + 1 == t->n_columns || i + 1 == t->n_cells;
        size_t gap = width[column] - display_width(t->cells[i]);
        if (column == 0) pad(out, indent);
        if (t->align[column] == 'r') pad(out, gap);
        fputs(t->cells[i], out);
        /* No trailing blanks after the last column. */
        if (t->align[column] != 'r' && !last) pad(out, gap);
        fputs(last ? "\n" : "  ", out);
    }
}

bool table_write(text_table *t, FILE *out, size_t indent)
{
    if (!t->failed) print_rows(t, out, indent);
    for (size_t i = 0; i < t->n_cells; i++) free(t->cells[i]);
    free(t->cells);
    bool ok = !t->failed;
    memset(t, 0, sizeof *t);
    return ok;
}
