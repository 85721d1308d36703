/* chart.c - line charts drawn with cairo.  The plot area and the ticks
 * follow from the spec alone (so chart_to_pixel needs no series); the
 * legend then takes the place inside the plot area that covers the least
 * data. */
#include "chart.h"

#include <cairo.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/status.h"

enum { DEFAULT_WIDTH = 720, DEFAULT_HEIGHT = 480 };
enum { MIN_SIDE = 200, MAX_SIDE = 4096 };
/* More ticks than this could not be labelled legibly on MAX_SIDE pixels. */
enum { MAX_TICKS = 100 };
/* A plot area smaller than this (in pixels) shows nothing useful. */
enum { MIN_PLOT_SIDE = 60 };

/* Lengths in pixels, font sizes in pixels per em. */
#define FONT_FAMILY "sans-serif"
#define TITLE_SIZE 17.0
#define LABEL_SIZE 14.0
#define TICK_SIZE 12.0
#define LEGEND_SIZE 12.5
#define MARGIN 14.0      /* between the image's edge and anything drawn */
#define TITLE_GAP 10.0   /* between the title and the plot area */
#define TICK_LENGTH 5.0  /* outward, on the left and bottom edges */
#define TICK_GAP 4.0     /* between a tick and its label */
#define LABEL_GAP 8.0    /* between tick labels and the axis label */
#define LINE_WIDTH 2.0
#define MARKER_RADIUS 3.5
/* Lines and dots on an axis limit show whole: the clip reaches this far
 * past the plot area. */
#define CLIP_SLACK (MARKER_RADIUS + 1.0)
/* Cap height and descent of a sans-serif font, in ems, to place text by
 * its visible middle rather than its baseline. */
#define CAP_HEIGHT 0.72
#define DESCENT 0.24
/* The legend: padding inside its box, its distance from the plot area's
 * edges, the length of the line sample and the height of a row. */
#define LEGEND_PADDING 8.0
#define LEGEND_INSET 10.0
#define LEGEND_SAMPLE 28.0
#define LEGEND_SAMPLE_GAP 8.0
#define LEGEND_ROW 20.0
/* A point further than this many axis ranges outside is pulled in that
 * far: the visible part of its segment moves by far less than a pixel,
 * and all arithmetic stays finite. */
#define FAR_AWAY 1e6

#define TEXT_COLOUR 0x222222u
#define AXIS_COLOUR 0x555555u
#define GRID_COLOUR 0xe4e4e4u
#define DIAGONAL_COLOUR 0x8c8c8cu
#define LEGEND_BORDER_COLOUR 0xc8c8c8u

/* Okabe and Ito's colours, told apart with any common colour-vision
 * deficiency.  Their black is the axes' colour and their yellow fades
 * into white, so both are left out. */
static const uint32_t palette[] = {0x0072b2, 0xd55e00, 0x009e73,
                                   0xcc79a7, 0xe69f00, 0x56b4e9};

static const double dash_pattern[] = {7.0, 4.0};

uint32_t chart_series_colour(size_t index)
{
    return palette[index % (sizeof palette / sizeof palette[0])];
}

/* ------------------------------------------------------------------------ */
/* Geometry                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct rect {
    double x0, y0, x1, y1; /* x0 <= x1, y0 <= y1; y grows downwards */
} rect;

static rect inflate(rect r, double by)
{
    return (rect){r.x0 - by, r.y0 - by, r.x1 + by, r.y1 + by};
}

static bool contains(rect r, double x, double y)
{
    return x >= r.x0 && x <= r.x1 && y >= r.y0 && y <= r.y1;
}

/* A segment and how much of it survived clipping. */
typedef struct segment {
    double x0, y0, x1, y1;
    bool end_clipped; /* the segment stops before its end point */
} segment;

/* Clips s to r (Liang and Barsky); false if nothing of it is inside. */
static bool clip_segment(rect r, segment *s)
{
    double dx = s->x1 - s->x0, dy = s->y1 - s->y0;
    const double p[4] = {-dx, dx, -dy, dy};
    const double q[4] = {s->x0 - r.x0, r.x1 - s->x0, s->y0 - r.y0,
                         r.y1 - s->y0};
    double t0 = 0, t1 = 1;
    for (int k = 0; k < 4; k++) {
        if (p[k] == 0) {
            if (q[k] < 0) return false; /* parallel to the edge, outside */
            continue;
        }
        double t = q[k] / p[k];
        if (p[k] < 0)
            t0 = fmax(t0, t);
        else
            t1 = fmin(t1, t);
    }
    if (t0 > t1) return false;
    *s = (segment){s->x0 + t0 * dx, s->y0 + t0 * dy, s->x0 + t1 * dx,
                   s->y0 + t1 * dy, t1 < 1};
    return true;
}

/* ------------------------------------------------------------------------ */
/* Ticks                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct axis_ticks {
    double first, step; /* tick values: first + k * step for k < count */
    int count;
    int decimals; /* of the labels */
    bool percent;
} axis_ticks;

/* 1, 2 or 5 times a power of ten, near a fifth of the range. */
static double automatic_step(double range)
{
    double raw = range / 5;
    double power = pow(10, floor(log10(raw)));
    double mantissa = raw / power;
    return power * (mantissa < 1.5   ? 1
                    : mantissa < 3.5 ? 2
                    : mantissa < 7.5 ? 5
                                     : 10);
}

/* Digits after the point that show every multiple of `step` exactly, up
 * to six. */
static int label_decimals(double step)
{
    int d = 0;
    for (double scaled = step; d < 6; d++, scaled *= 10)
        if (fabs(scaled - round(scaled)) <= 1e-6 * scaled) break;
    return d;
}

/* Fills t for an axis from min to max (already checked); returns a
 * problem, or NULL. */
static const char *make_ticks(double min, double max, double step,
                              bool percent, axis_ticks *t)
{
    if (step == 0) step = automatic_step(max - min);
    if (!(step > 0) || !isfinite(step))
        return "must be positive, or 0 for automatic";
    if ((max - min) / step > MAX_TICKS) return "gives over 100 ticks";
    /* The 1e-9 keeps limits that are multiples of step up to rounding. */
    t->first = ceil(min / step - 1e-9) * step;
    t->step = step;
    t->count = (int)floor((max - t->first) / step + 1e-9) + 1;
    t->decimals = label_decimals(percent ? step * 100 : step);
    t->percent = percent;
    return NULL;
}

static double tick_value(const axis_ticks *t, int k)
{
    return t->first + k * t->step;
}

static void tick_label(const axis_ticks *t, int k, char *out, size_t size)
{
    double value = tick_value(t, k) * (t->percent ? 100 : 1);
    /* Rounding leaves -1e-17 where 0 is meant; it would print "-0.0". */
    if (fabs(value) < 1e-9 * t->step) value = 0;
    snprintf(out, size, "%.*f%s", t->decimals, value, t->percent ? "%" : "");
}

/* ------------------------------------------------------------------------ */
/* Checking the arguments                                                   */
/* ------------------------------------------------------------------------ */

static bool range_ok(double min, double max)
{
    return min < max && isfinite(max - min);
}

static bool side_ok(uint32_t side)
{
    return side == 0 || (side >= MIN_SIDE && side <= MAX_SIDE);
}

static uint32_t image_width(const chart_spec *c)
{
    return c->width ? c->width : DEFAULT_WIDTH;
}

static uint32_t image_height(const chart_spec *c)
{
    return c->height ? c->height : DEFAULT_HEIGHT;
}

/* Writes what is wrong with c into `problem` and returns true, or returns
 * false.  The tick checks need valid ranges, so they come last. */
static bool spec_problem(const chart_spec *c, char *problem, size_t size)
{
    axis_ticks ticks;
    const char *tick_problem;
    if (!c)
        snprintf(problem, size, "no chart spec");
    else if (!side_ok(c->width) || !side_ok(c->height))
        snprintf(problem, size,
                 "%" PRIu32 " x %" PRIu32
                 " pixels: each side must be from %d to %d",
                 image_width(c), image_height(c), MIN_SIDE, MAX_SIDE);
    else if (!range_ok(c->x_min, c->x_max))
        snprintf(problem, size,
                 "the x axis needs finite limits with x_min < x_max, not %g "
                 "to %g",
                 c->x_min, c->x_max);
    else if (!range_ok(c->y_min, c->y_max))
        snprintf(problem, size,
                 "the y axis needs finite limits with y_min < y_max, not %g "
                 "to %g",
                 c->y_min, c->y_max);
    else if ((tick_problem = make_ticks(c->x_min, c->x_max, c->x_tick,
                                        c->percent_x, &ticks)))
        snprintf(problem, size, "x tick spacing %g %s", c->x_tick,
                 tick_problem);
    else if ((tick_problem = make_ticks(c->y_min, c->y_max, c->y_tick,
                                        c->percent_y, &ticks)))
        snprintf(problem, size, "y tick spacing %g %s", c->y_tick,
                 tick_problem);
    else
        return false;
    return true;
}

static bool series_problem(const chart_series *s, size_t n_series,
                           char *problem, size_t size)
{
    if (n_series == 0 || !s) {
        snprintf(problem, size, "no series to draw");
        return true;
    }
    for (size_t i = 0; i < n_series; i++) {
        if (!s[i].x || !s[i].y) {
            snprintf(problem, size, "series %zu has no x or no y values", i);
            return true;
        }
        if (s[i].n == 0) {
            snprintf(problem, size, "series %zu has no points", i);
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------------------ */
/* Layout                                                                   */
/* ------------------------------------------------------------------------ */

/* Everything placed from the spec alone. */
typedef struct layout {
    const chart_spec *spec;
    double width, height;
    axis_ticks x_ticks, y_ticks;
    rect plot; /* whole pixels, so 1-pixel lines on its edges stay sharp */
    rect clip; /* the plot area and CLIP_SLACK */
} layout;

static void set_font(cairo_t *cr, double size, bool bold)
{
    cairo_select_font_face(cr, FONT_FAMILY, CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD
                                : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

static double text_width(cairo_t *cr, const char *text)
{
    cairo_text_extents_t e;
    cairo_text_extents(cr, text, &e);
    return e.x_advance;
}

/* Lays out a spec that spec_problem accepted, measuring the labels with
 * cr. */
static void layout_make(cairo_t *cr, const chart_spec *c, layout *lay)
{
    lay->spec = c;
    lay->width = image_width(c);
    lay->height = image_height(c);
    make_ticks(c->x_min, c->x_max, c->x_tick, c->percent_x, &lay->x_ticks);
    make_ticks(c->y_min, c->y_max, c->y_tick, c->percent_y, &lay->y_ticks);

    set_font(cr, TICK_SIZE, false);
    char label[64];
    double widest_y_label = 0;
    for (int k = 0; k < lay->y_ticks.count; k++) {
        tick_label(&lay->y_ticks, k, label, sizeof label);
        widest_y_label = fmax(widest_y_label, text_width(cr, label));
    }
    /* The last x label may be centred on the right edge. */
    double x_label_overhang = 0;
    if (lay->x_ticks.count > 0) {
        tick_label(&lay->x_ticks, lay->x_ticks.count - 1, label, sizeof label);
        x_label_overhang = text_width(cr, label) / 2 + 2;
    }

    double left = MARGIN + (c->y_label ? LABEL_SIZE + LABEL_GAP : 0) +
                  widest_y_label + TICK_GAP + TICK_LENGTH;
    double top = MARGIN + (c->title ? TITLE_SIZE + TITLE_GAP : 0);
    double right = lay->width - fmax(MARGIN, x_label_overhang);
    double bottom = lay->height - MARGIN -
                    (c->x_label ? LABEL_SIZE + LABEL_GAP : 0) -
                    TICK_SIZE - TICK_GAP - TICK_LENGTH;
    lay->plot = (rect){round(left), round(top), round(right), round(bottom)};
    lay->clip = inflate(lay->plot, CLIP_SLACK);
}

/* The layout chart_write_png will make, measured on a scratch
 * surface of the same kind; false if cairo fails. */
static bool layout_measure(const chart_spec *c, layout *lay)
{
    cairo_surface_t *scratch =
        cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
    cairo_t *cr = cairo_create(scratch);
    layout_make(cr, c, lay);
    bool ok = cairo_status(cr) == CAIRO_STATUS_SUCCESS;
    cairo_destroy(cr);
    cairo_surface_destroy(scratch);
    return ok;
}

/* The pixel of the point at fractions (u, v) of the axis ranges. */
static void place(const layout *lay, double u, double v, double *px, double *py)
{
    *px = lay->plot.x0 + u * (lay->plot.x1 - lay->plot.x0);
    *py = lay->plot.y1 - v * (lay->plot.y1 - lay->plot.y0);
}

static double fraction(double value, double min, double max)
{
    return (value - min) / (max - min);
}

void chart_to_pixel(const chart_spec *c, double x, double y, double *px,
                    double *py)
{
    char problem[160];
    layout lay;
    if (spec_problem(c, problem, sizeof problem) || !layout_measure(c, &lay)) {
        *px = *py = NAN;
        return;
    }
    place(&lay, fraction(x, c->x_min, c->x_max),
          fraction(y, c->y_min, c->y_max), px, py);
}

static bool is_gap(const chart_series *s, size_t i)
{
    return !isfinite(s->x[i]) || !isfinite(s->y[i]);
}

/* Point i of s in pixels, pulled in from FAR_AWAY; false for a gap. */
static bool series_point(const layout *lay, const chart_series *s, size_t i,
                         double *px, double *py)
{
    if (is_gap(s, i)) return false;
    const chart_spec *c = lay->spec;
    double u = fraction(s->x[i], c->x_min, c->x_max);
    double v = fraction(s->y[i], c->y_min, c->y_max);
    place(lay, fmin(fmax(u, -FAR_AWAY), FAR_AWAY),
          fmin(fmax(v, -FAR_AWAY), FAR_AWAY), px, py);
    return true;
}

/* The part inside r of the segment from point i - 1 to point i of s. */
static bool series_segment(const layout *lay, const chart_series *s, size_t i,
                           rect r, segment *out)
{
    return series_point(lay, s, i - 1, &out->x0, &out->y0) &&
           series_point(lay, s, i, &out->x1, &out->y1) && clip_segment(r, out);
}

/* Point i gets a dot: markers were asked for, or no line touches it. */
static bool has_dot(const chart_series *s, size_t i)
{
    if (is_gap(s, i)) return false;
    bool joined_before = i > 0 && !is_gap(s, i - 1);
    bool joined_after = i + 1 < s->n && !is_gap(s, i + 1);
    return s->markers || (!joined_before && !joined_after);
}

/* The y = x line across both ranges, inside the plot area. */
static bool diagonal_segment(const layout *lay, segment *out)
{
    const chart_spec *c = lay->spec;
    double lo = fmax(c->x_min, c->y_min), hi = fmin(c->x_max, c->y_max);
    if (!c->diagonal || lo >= hi) return false;
    place(lay, fraction(lo, c->x_min, c->x_max),
          fraction(lo, c->y_min, c->y_max), &out->x0, &out->y0);
    place(lay, fraction(hi, c->x_min, c->x_max),
          fraction(hi, c->y_min, c->y_max), &out->x1, &out->y1);
    return true;
}

/* How much of the data r covers: pixels of line plus dots' diameters. */
static double data_under(const layout *lay, const chart_series *s,
                         size_t n_series, rect r)
{
    /* Lines brushing the legend's border look as crowded as lines under
     * it. */
    rect near = inflate(r, LINE_WIDTH + 2);
    double covered = 0;
    segment seg;
    for (size_t j = 0; j < n_series; j++)
        for (size_t i = 0; i < s[j].n; i++) {
            if (i > 0 && series_segment(lay, &s[j], i, near, &seg))
                covered += hypot(seg.x1 - seg.x0, seg.y1 - seg.y0);
            double px, py;
            if (has_dot(&s[j], i) && series_point(lay, &s[j], i, &px, &py) &&
                contains(inflate(near, MARKER_RADIUS), px, py))
                covered += 2 * MARKER_RADIUS;
        }
    if (diagonal_segment(lay, &seg) && clip_segment(near, &seg))
        covered += hypot(seg.x1 - seg.x0, seg.y1 - seg.y0);
    return covered;
}

/* ------------------------------------------------------------------------ */
/* Drawing                                                                  */
/* ------------------------------------------------------------------------ */

static void set_colour(cairo_t *cr, uint32_t rgb)
{
    cairo_set_source_rgb(cr, (rgb >> 16 & 0xff) / 255.0,
                         (rgb >> 8 & 0xff) / 255.0, (rgb & 0xff) / 255.0);
}

/* The middle of the pixel holding v: 1-pixel lines there stay sharp. */
static double crisp(double v)
{
    return floor(v) + 0.5;
}

/* Draws text with its visible middle at y; `align` is 0 for left, 0.5 for
 * centred, 1 for right of x. */
static void draw_text(cairo_t *cr, const char *text, double size, double x,
                      double y, double align)
{
    cairo_move_to(cr, x - align * text_width(cr, text),
                  y + CAP_HEIGHT * size / 2);
    cairo_show_text(cr, text);
}

/* The middles of the pixel column and row of tick k on each axis, where
 * 1-pixel lines stay sharp. */
static double tick_column(const layout *lay, int k)
{
    const chart_spec *c = lay->spec;
    double px, py;
    place(lay, fraction(tick_value(&lay->x_ticks, k), c->x_min, c->x_max), 0,
          &px, &py);
    return crisp(px);
}

static double tick_row(const layout *lay, int k)
{
    const chart_spec *c = lay->spec;
    double px, py;
    place(lay, 0, fraction(tick_value(&lay->y_ticks, k), c->y_min, c->y_max),
          &px, &py);
    return crisp(py);
}

static void draw_grid_and_frame(cairo_t *cr, const layout *lay)
{
    rect p = lay->plot;
    cairo_set_line_width(cr, 1);
    set_colour(cr, GRID_COLOUR);
    for (int k = 0; k < lay->x_ticks.count; k++) {
        cairo_move_to(cr, tick_column(lay, k), p.y0);
        cairo_line_to(cr, tick_column(lay, k), p.y1);
    }
    for (int k = 0; k < lay->y_ticks.count; k++) {
        cairo_move_to(cr, p.x0, tick_row(lay, k));
        cairo_line_to(cr, p.x1, tick_row(lay, k));
    }
    cairo_stroke(cr);
    set_colour(cr, AXIS_COLOUR);
    cairo_rectangle(cr, crisp(p.x0), crisp(p.y0), p.x1 - p.x0, p.y1 - p.y0);
    cairo_stroke(cr);
}

static void draw_ticks(cairo_t *cr, const layout *lay)
{
    rect p = lay->plot;
    char label[64];
    set_font(cr, TICK_SIZE, false);
    cairo_set_line_width(cr, 1);
    for (int k = 0; k < lay->x_ticks.count; k++) {
        double x = tick_column(lay, k);
        set_colour(cr, AXIS_COLOUR);
        cairo_move_to(cr, x, p.y1);
        cairo_line_to(cr, x, p.y1 + TICK_LENGTH);
        cairo_stroke(cr);
        set_colour(cr, TEXT_COLOUR);
        tick_label(&lay->x_ticks, k, label, sizeof label);
        draw_text(cr, label, TICK_SIZE, x,
                  p.y1 + TICK_LENGTH + TICK_GAP + TICK_SIZE / 2, 0.5);
    }
    for (int k = 0; k < lay->y_ticks.count; k++) {
        double y = tick_row(lay, k);
        set_colour(cr, AXIS_COLOUR);
        cairo_move_to(cr, p.x0, y);
        cairo_line_to(cr, p.x0 - TICK_LENGTH, y);
        cairo_stroke(cr);
        set_colour(cr, TEXT_COLOUR);
        tick_label(&lay->y_ticks, k, label, sizeof label);
        draw_text(cr, label, TICK_SIZE, p.x0 - TICK_LENGTH - TICK_GAP, y, 1);
    }
}

/* The title centred over the plot area (but inside the image), the x
 * label under it and the y label turned to read upwards. */
static void draw_titles(cairo_t *cr, const layout *lay)
{
    const chart_spec *c = lay->spec;
    double middle_x = (lay->plot.x0 + lay->plot.x1) / 2;
    set_colour(cr, TEXT_COLOUR);
    if (c->title) {
        set_font(cr, TITLE_SIZE, true);
        double w = text_width(cr, c->title);
        /* A title too long for the image is set smaller, not cut. */
        double room = lay->width - 2 * MARGIN;
        if (w > room) {
            set_font(cr, TITLE_SIZE * room / w, true);
            w = text_width(cr, c->title);
        }
        double x =
            fmax(MARGIN, fmin(middle_x - w / 2, lay->width - MARGIN - w));
        cairo_move_to(cr, x, MARGIN + CAP_HEIGHT * TITLE_SIZE);
        cairo_show_text(cr, c->title);
    }
    set_font(cr, LABEL_SIZE, false);
    if (c->x_label)
        draw_text(cr, c->x_label, LABEL_SIZE, middle_x,
                  lay->height - MARGIN - DESCENT * LABEL_SIZE -
                      CAP_HEIGHT * LABEL_SIZE / 2,
                  0.5);
    if (c->y_label) {
        cairo_save(cr);
        cairo_translate(cr, MARGIN + LABEL_SIZE / 2,
                        (lay->plot.y0 + lay->plot.y1) / 2);
        cairo_rotate(cr, -M_PI / 2);
        draw_text(cr, c->y_label, LABEL_SIZE, 0, 0, 0.5);
        cairo_restore(cr);
    }
}

static void set_line_style(cairo_t *cr, const chart_series *s, uint32_t rgb)
{
    set_colour(cr, rgb);
    cairo_set_line_width(cr, LINE_WIDTH);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_dash(cr, dash_pattern, s->dashed ? 2 : 0, 0);
}

static void draw_dot(cairo_t *cr, double x, double y)
{
    cairo_new_sub_path(cr);
    cairo_arc(cr, x, y, MARKER_RADIUS, 0, 2 * M_PI);
    cairo_fill(cr);
}

static void draw_series(cairo_t *cr, const layout *lay, const chart_series *s,
                        uint32_t rgb)
{
    set_line_style(cr, s, rgb);
    bool pen_at_start = false; /* the path ends where the next segment
                                  starts, so the two join */
    segment seg;
    for (size_t i = 1; i < s->n; i++) {
        if (!series_segment(lay, s, i, lay->clip, &seg)) {
            pen_at_start = false;
            continue;
        }
        if (!pen_at_start) cairo_move_to(cr, seg.x0, seg.y0);
        cairo_line_to(cr, seg.x1, seg.y1);
        pen_at_start = !seg.end_clipped;
    }
    cairo_stroke(cr);
    /* Dots far outside would overflow cairo's fixed-point coordinates. */
    rect dot_area = inflate(lay->clip, MARKER_RADIUS);
    double px, py;
    for (size_t i = 0; i < s->n; i++)
        if (has_dot(s, i) && series_point(lay, s, i, &px, &py) &&
            contains(dot_area, px, py))
            draw_dot(cr, px, py);
}

static void draw_diagonal(cairo_t *cr, const layout *lay)
{
    segment seg;
    if (!diagonal_segment(lay, &seg)) return;
    static const double dots[] = {0.0, 4.5};
    cairo_save(cr);
    set_colour(cr, DIAGONAL_COLOUR);
    cairo_set_line_width(cr, 1.6);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    cairo_set_dash(cr, dots, 2, 0);
    cairo_move_to(cr, seg.x0, seg.y0);
    cairo_line_to(cr, seg.x1, seg.y1);
    cairo_stroke(cr);
    cairo_restore(cr);
}

/* The legend lists the named series in a box inside the plot area, at the
 * first of these places (corners first) that covers the least data. */
static rect legend_box(const layout *lay, const chart_series *s,
                       size_t n_series, double w, double h)
{
    static const double places[][2] = {{1, 0},   {0, 0},   {1, 1},
                                       {0, 1},   {0.5, 0}, {0.5, 1},
                                       {1, 0.5}, {0, 0.5}, {0.5, 0.5}};
    rect inside = inflate(lay->plot, -LEGEND_INSET);
    double room_x = inside.x1 - inside.x0 - w;
    double room_y = inside.y1 - inside.y0 - h;
    rect best = {0};
    double least = INFINITY;
    for (size_t k = 0; k < sizeof places / sizeof places[0]; k++) {
        double x = round(inside.x0 + places[k][0] * room_x);
        double y = round(inside.y0 + places[k][1] * room_y);
        rect r = {x, y, x + w, y + h};
        double covered = data_under(lay, s, n_series, r);
        if (covered < least) {
            least = covered;
            best = r;
        }
    }
    return best;
}

static void draw_legend(cairo_t *cr, const layout *lay, const chart_series *s,
                        size_t n_series)
{
    set_font(cr, LEGEND_SIZE, false);
    size_t rows = 0;
    double widest = 0;
    for (size_t j = 0; j < n_series; j++)
        if (s[j].name) {
            rows++;
            widest = fmax(widest, text_width(cr, s[j].name));
        }
    if (rows == 0) return;
    double w = ceil(2 * LEGEND_PADDING + LEGEND_SAMPLE + LEGEND_SAMPLE_GAP +
                    widest);
    double h = ceil(2 * LEGEND_PADDING + LEGEND_SIZE +
                    (rows - 1) * LEGEND_ROW);
    rect box = legend_box(lay, s, n_series, w, h);

    cairo_rectangle(cr, crisp(box.x0), crisp(box.y0), box.x1 - box.x0,
                    box.y1 - box.y0);
    /* Nearly opaque: a line under the legend still shows faintly. */
    cairo_set_source_rgba(cr, 1, 1, 1, 0.9);
    cairo_fill_preserve(cr);
    set_colour(cr, LEGEND_BORDER_COLOUR);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);

    double row_middle = box.y0 + LEGEND_PADDING + LEGEND_SIZE / 2;
    double sample_x = box.x0 + LEGEND_PADDING;
    for (size_t j = 0; j < n_series; j++) {
        if (!s[j].name) continue;
        uint32_t rgb = chart_series_colour(j);
        set_line_style(cr, &s[j], rgb);
        cairo_move_to(cr, sample_x, row_middle);
        cairo_line_to(cr, sample_x + LEGEND_SAMPLE, row_middle);
        cairo_stroke(cr);
        if (s[j].markers)
            draw_dot(cr, sample_x + LEGEND_SAMPLE / 2, row_middle);
        set_colour(cr, TEXT_COLOUR);
        draw_text(cr, s[j].name, LEGEND_SIZE,
                  sample_x + LEGEND_SAMPLE + LEGEND_SAMPLE_GAP, row_middle, 0);
        row_middle += LEGEND_ROW;
    }
}

static void draw_chart(cairo_t *cr, const layout *lay, const chart_series *s,
                       size_t n_series)
{
    set_colour(cr, 0xffffff);
    cairo_paint(cr);
    draw_grid_and_frame(cr, lay);
    cairo_save(cr);
    cairo_rectangle(cr, lay->clip.x0, lay->clip.y0, lay->clip.x1 - lay->clip.x0,
                    lay->clip.y1 - lay->clip.y0);
    cairo_clip(cr);
    draw_diagonal(cr, lay);
    for (size_t j = 0; j < n_series; j++)
        draw_series(cr, lay, &s[j], chart_series_colour(j));
    cairo_restore(cr);
    draw_ticks(cr, lay);
    draw_titles(cr, lay);
    draw_legend(cr, lay, s, n_series);
}

/* ------------------------------------------------------------------------ */
/* Writing                                                                  */
/* ------------------------------------------------------------------------ */

/* What a cairo failure is: mostly memory running out. */
static dg_status cairo_failure(cairo_status_t status)
{
    return status == CAIRO_STATUS_NO_MEMORY ? DG_E_NOMEM : DG_E_INTERNAL;
}

/* cairo's PNG stream into the writer dg_file_save hands over. */
static cairo_status_t write_bytes(void *closure, const unsigned char *data,
                                  unsigned int length)
{
    dg_put_bytes(closure, data, length);
    return CAIRO_STATUS_SUCCESS;
}

static dg_status encode_png(const void *surface, dg_writer *w)
{
    cairo_status_t status = cairo_surface_write_to_png_stream(
        (cairo_surface_t *)surface, write_bytes, w);
    if (w->status != DG_OK) return w->status;
    if (status != CAIRO_STATUS_SUCCESS)
        return dg_fail(cairo_failure(status), "encoding the chart: %s",
                       cairo_status_to_string(status));
    return DG_OK;
}

dg_status chart_write_png(const char *path, const chart_spec *c,
                          const chart_series *s, size_t n_series)
{
    if (!path || !path[0])
        return dg_fail(DG_E_INVALID_ARG,
                       "cannot draw a chart without a file name");
    char problem[160];
    if (spec_problem(c, problem, sizeof problem) ||
        series_problem(s, n_series, problem, sizeof problem))
        return dg_fail(DG_E_INVALID_ARG, "cannot draw chart %s: %s", path,
                       problem);

    cairo_surface_t *surface = cairo_image_surface_create(
        CAIRO_FORMAT_RGB24, (int)image_width(c), (int)image_height(c));
    cairo_t *cr = cairo_create(surface);
    layout lay;
    layout_make(cr, c, &lay);
    dg_status rc = DG_OK;
    if (lay.plot.x1 - lay.plot.x0 < MIN_PLOT_SIDE ||
        lay.plot.y1 - lay.plot.y0 < MIN_PLOT_SIDE) {
        rc = dg_fail(DG_E_INVALID_ARG,
                       "cannot draw chart %s: %" PRIu32 " x %" PRIu32
                       " pixels leave no room for the plot beside the labels",
                       path, image_width(c), image_height(c));
    } else {
        draw_chart(cr, &lay, s, n_series);
        /* cairo records the first failure of a context, or of its
         * surface, and ignores the calls after it. */
        cairo_status_t status = cairo_status(cr);
        if (status != CAIRO_STATUS_SUCCESS)
            rc = dg_fail(cairo_failure(status), "cannot draw chart %s: %s", path,
                         cairo_status_to_string(status));
        else
            rc = dg_file_save(path, encode_png, surface);
    }
    cairo_destroy(cr);
    cairo_surface_destroy(surface);
    return rc;
}
