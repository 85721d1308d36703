/* chart.h - line charts written as PNG files, drawn with cairo: for
 * example the defence rate and accuracy loss against M, or ROC curves.
 *
 * A chart is white, with a framed plot area, a light grid at the ticks,
 * tick labels, axis labels, a title and a legend in the corner of the plot
 * area the data leaves freest.  Series take the colours of a fixed
 * colour-blind-safe palette in order. */
#ifndef DG_REPORT_CHART_H
#define DG_REPORT_CHART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* One line of a chart. */
typedef struct chart_series {
    const char *name;    /* legend text; NULL leaves it out of the legend */
    const double *x, *y; /* n points joined in order; a point with a
                            non-finite x or y is a gap in the line */
    size_t n;            /* at least 1 */
    bool markers;        /* a dot at each point (a point between two gaps
                            gets one anyway, or it would not show) */
    bool dashed;
} chart_series;

/* What the chart shows, apart from the series.  Points outside the axis
 * ranges are clipped: the clip reaches a few pixels past the plot area so
 * that a line or dot on an axis limit shows whole. */
typedef struct chart_spec {
    const char *title, *x_label, *y_label; /* NULL: none */
    double x_min, x_max, y_min, y_max;     /* axis ranges: finite, min < max */
    double x_tick, y_tick; /* tick spacing; 0 chooses 1, 2 or 5 times a
                              power of ten, about five ticks per axis */
    bool percent_x, percent_y; /* tick labels as percentages of 1 */
    bool diagonal;             /* a dotted y = x line, for ROC curves */
    uint32_t width, height;    /* pixels, 200 to 4096; 0: 720 and 480 */
} chart_spec;

/* The colour of series `index` as 0xRRGGBB: Okabe and Ito's palette
 * without black and yellow, repeating after six. */
uint32_t chart_series_colour(size_t index);

/* Where the point (x, y) lands in the image of chart c, in pixels from the
 * top left corner: it lies in pixel (floor(px), floor(py)).  Points outside
 * the axis ranges land outside the plot area.  NaN for a spec whose size,
 * ranges or ticks chart_write_png refuses. */
void chart_to_pixel(const chart_spec *c, double x, double y, double *px,
                    double *py);

/* Draws the n_series series of s on chart c and writes the PNG atomically
 * (dg_file_save): readers of `path` see the old file or the whole new
 * one, never a part.  A bad spec or series is DG_E_INVALID_ARG, a cairo
 * failure DG_E_INTERNAL, a file error what dg_file_save says. */
dg_status chart_write_png(const char *path, const chart_spec *c,
                          const chart_series *s, size_t n_series);

#endif
