/* json.c - a streaming JSON writer: the caller opens and closes containers
 * and the writer places commas, indentation and escapes. */
#include "text.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void json_init(json_writer *w, FILE *out)
{
    memset(w, 0, sizeof *w);
    w->out = out;
}

static void newline_and_indent(json_writer *w)
{
    fputc('\n', w->out);
    for (int d = 0; d < w->depth; d++) fputs("  ", w->out);
}

/* Everything a value needs in front of it: a comma after the previous item
 * and a fresh line, unless it is the value of a key. */
static void before_value(json_writer *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth == 0) return;
    if (w->has_items[w->depth - 1]) fputc(',', w->out);
    w->has_items[w->depth - 1] = true;
    newline_and_indent(w);
}

static void open_container(json_writer *w, char bracket)
{
    if (w->failed || w->depth == JSON_MAX_DEPTH) {
        w->failed = true; /* a bug in the caller; nothing more is written */
        return;
    }
    before_value(w);
    fputc(bracket, w->out);
    w->has_items[w->depth++] = false;
}

static void close_container(json_writer *w, char bracket)
{
    if (w->failed || w->depth == 0) {
        w->failed = true;
        return;
    }
    bool had_items = w->has_items[--w->depth];
    if (had_items) newline_and_indent(w);
    fputc(bracket, w->out);
    if (w->depth == 0) fputc('\n', w->out);
}

void json_begin_object(json_writer *w) { open_container(w, '{'); }
void json_end_object(json_writer *w) { close_container(w, '}'); }
void json_begin_array(json_writer *w) { open_container(w, '['); }
void json_end_array(json_writer *w) { close_container(w, ']'); }

/* Length of the well-formed UTF-8 sequence at s (at most `avail` bytes),
 * or 0 when it is malformed, overlong, a surrogate or past U+10FFFF. */
static size_t utf8_sequence_length(const unsigned char *s, size_t avail)
{
    static const uint32_t smallest[5] = {0, 0, 0x80, 0x800, 0x10000};
    size_t len;
    uint32_t code;
    if (s[0] < 0x80) return 1;
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2;
        code = s[0] & 0x1Fu;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3;
        code = s[0] & 0x0Fu;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4;
        code = s[0] & 0x07u;
    } else {
        return 0;
    }
    if (avail < len) return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80) return 0;
        code = code << 6 | (s[k] & 0x3Fu);
    }
    if (code < smallest[len] || code > 0x10FFFF ||
        (code >= 0xD800 && code <= 0xDFFF))
        return 0;
    return len;
}

/* Writes text with nothing a terminal would act on: control characters
 * (C0, DEL and C1) as \n, \t, \r or \u00XX, and each byte of invalid
 * UTF-8 as U+FFFD; for a JSON string also " and \ escaped. */
static void write_escaped(FILE *out, const char *text, bool json)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t left = strlen(text);
    while (left > 0) {
        size_t len = utf8_sequence_length(s, left);
        /* U+0080 to U+009F, the C1 controls, are C2 80 to C2 9F. */
        unsigned control = *s < 0x20 || *s == 0x7f ? *s
                           : len == 2 && *s == 0xC2 && s[1] < 0xA0 ? s[1]
                                                                    : 0;
        if (len == 0) {
            fputs("\xEF\xBF\xBD", out); /* U+FFFD for one bad byte */
            len = 1;
        } else if (json && (*s == '"' || *s == '\\')) {
            fprintf(out, "\\%c", *s);
        } else if (*s == '\n') {
            fputs("\\n", out);
        } else if (*s == '\t') {
            fputs("\\t", out);
        } else if (*s == '\r') {
            fputs("\\r", out);
        } else if (control) {
            fprintf(out, "\\u%04x", control);
        } else {
            fwrite(s, 1, len, out);
        }
        s += len;
        left -= len;
    }
}

static void write_string(FILE *out, const char *text)
{
    fputc('"', out);
    write_escaped(out, text, true);
    fputc('"', out);
}

char *text_vformat(const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int len = vsnprintf(NULL, 0, fmt, again);
    va_end(again);
    char *raw = len >= 0 ? malloc((size_t)len + 1) : NULL, *text = NULL;
    size_t size;
    FILE *out = raw ? open_memstream(&text, &size) : NULL;
    if (out) {
        vsnprintf(raw, (size_t)len + 1, fmt, ap);
        write_escaped(out, raw, false);
        if (fclose(out) != 0) {
            free(text);
            text = NULL;
        }
    }
    free(raw);
    return text;
}

void text_printf(FILE *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = text_vformat(fmt, ap);
    va_end(ap);
    fputs(text ? text : "(out of memory)", out);
    free(text);
}

void json_key(json_writer *w, const char *key)
{
    if (w->failed) return;
    before_value(w);
    write_string(w->out, key);
    fputs(": ", w->out);
    w->after_key = true;
}

void json_string(json_writer *w, const char *s)
{
    if (w->failed) return;
    before_value(w);
    write_string(w->out, s);
}

void json_number(json_writer *w, double value)
{
    if (w->failed) return;
    before_value(w);
    if (isfinite(value))
        fprintf(w->out, "%.9g", value);
    else
        fputs("null", w->out);
}

void json_int(json_writer *w, int64_t value)
{
    if (w->failed) return;
    before_value(w);
    fprintf(w->out, "%" PRId64, value);
}

void json_bool(json_writer *w, bool value)
{
    if (w->failed) return;
    before_value(w);
    fputs(value ? "true" : "false", w->out);
}

void json_raw(json_writer *w, const char *json)
{
    if (w->failed) return;
    before_value(w);
    /* Its lines move in to this depth; its final newline goes.  Strings
     * hold no raw newline, so each one ends a line of the layout. */
    size_t len = strlen(json);
    while (len > 0 && json[len - 1] == '\n') len--;
    for (size_t i = 0; i < len; i++) {
        fputc(json[i], w->out);
        if (json[i] == '\n')
            for (int d = 0; d < w->depth; d++) fputs("  ", w->out);
    }
}

void json_put_string(json_writer *w, const char *key, const char *s)
{
    json_key(w, key);
    json_string(w, s);
}

void json_put_number(json_writer *w, const char *key, double value)
{
    json_key(w, key);
    json_number(w, value);
}

void json_put_int(json_writer *w, const char *key, int64_t value)
{
    json_key(w, key);
    json_int(w, value);
}

void json_put_bool(json_writer *w, const char *key, bool value)
{
    json_key(w, key);
    json_bool(w, value);
}
