/* test_chart.c - the reports' line charts (lib/report/chart.c).
 *
 * Charts are read back with the library's PNG decoder, not cairo's, and
 * every expectation is a place from chart_to_pixel and a colour from the
 * palette: a series' colour where its points and lines are, white where
 * nothing is drawn.  Test points keep off the grid lines (ticks every
 * 0.25). */
#define _XOPEN_SOURCE 700 /* nftw, in tmpdir.h */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report/chart.h"
#include "io/image.h"
#include "suite.h"
#include "tmpdir.h"

#define WHITE 0xffffffu

/* Whether the test folder holds a temporary of a save to `base`
 * (base.tmpXXXXXX, dg_file_write_atomic's). */
static bool temporary_left(const char *base)
{
    DIR *d = opendir(tmp_path(1, "."));
    ck_assert_ptr_nonnull(d);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s.tmp", base);
    bool found = false;
    for (struct dirent *e; (e = readdir(d));)
        found |= strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return found;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The unit square with ticks every 0.25, as the tests below assume. */
static chart_spec unit_spec(void)
{
    return (chart_spec){.x_min = 0, .x_max = 1, .y_min = 0, .y_max = 1,
                        .x_tick = 0.25, .y_tick = 0.25};
}

static dg_decoded_image draw_and_load(const chart_spec *c,
                                      const chart_series *s, size_t n)
{
    const char *path = tmp_path(0, "chart.png");
    ck_assert_int_eq(chart_write_png(path, c, s, n), DG_OK);
    ck_assert(!temporary_left("chart.png"));
    dg_decoded_image img;
    ck_assert_int_eq(dg_image_decode_file(path, &img), DG_OK);
    ck_assert_uint_eq(img.channels, 3);
    return img;
}

/* The colour of pixel (x, y) as 0xRRGGBB. */
static uint32_t pixel_at(const dg_decoded_image *img, long x, long y)
{
    ck_assert_msg(x >= 0 && y >= 0 && x < (long)img->width &&
                      y < (long)img->height,
                  "pixel (%ld, %ld) is outside the %ux%u image", x, y,
                  img->width, img->height);
    const uint8_t *p = img->pixels + ((size_t)y * img->width + x) * 3;
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static int channel_difference(uint32_t a, uint32_t b)
{
    int most = 0;
    for (int shift = 0; shift < 24; shift += 8) {
        int d = abs((int)(a >> shift & 0xff) - (int)(b >> shift & 0xff));
        if (d > most) most = d;
    }
    return most;
}

/* The pixel that holds the data point (x, y) has exactly colour rgb. */
static void expect_pixel(const dg_decoded_image *img, const chart_spec *c,
                         double x, double y, uint32_t rgb)
{
    double px, py;
    chart_to_pixel(c, x, y, &px, &py);
    uint32_t got = pixel_at(img, (long)floor(px), (long)floor(py));
    ck_assert_msg(got == rgb,
                  "(%g, %g) at pixel (%.1f, %.1f) is %06x, not %06x", x, y,
                  px, py, got, rgb);
}

/* A 2-pixel antialiased line through the data point (x, y): one of the 3x3
 * pixels around it is fully covered, or nearly so where the line is
 * slanted. */
static void expect_line_near(const dg_decoded_image *img, const chart_spec *c,
                             double x, double y, uint32_t rgb)
{
    double px, py;
    chart_to_pixel(c, x, y, &px, &py);
    int closest = 255;
    for (long dy = -1; dy <= 1; dy++)
        for (long dx = -1; dx <= 1; dx++) {
            uint32_t got =
                pixel_at(img, (long)floor(px) + dx, (long)floor(py) + dy);
            int d = channel_difference(got, rgb);
            if (d < closest) closest = d;
        }
    ck_assert_msg(closest <= 24,
                  "no pixel near (%g, %g) has colour %06x (closest: %d off)",
                  x, y, rgb, closest);
}

/* ---------------------------------------------------------------------- */
/* What is drawn where                                                    */
/* ---------------------------------------------------------------------- */

START_TEST(palette_is_okabe_ito)
{
    ck_assert_uint_eq(chart_series_colour(0), 0x0072b2);
    for (size_t i = 0; i < 6; i++) {
        ck_assert_uint_ne(chart_series_colour(i), WHITE);
        for (size_t j = 0; j < i; j++)
            ck_assert_uint_ne(chart_series_colour(i), chart_series_colour(j));
    }
    ck_assert_uint_eq(chart_series_colour(6), chart_series_colour(0));
}
END_TEST

static const double a_x[] = {0.1, 0.4, 0.7}, a_y[] = {0.2, 0.6, 0.3};
static const double b_x[] = {0.1, 0.4, 0.7}, b_y[] = {0.8, 0.9, 0.85};

START_TEST(series_drawn_in_their_colours)
{
    chart_spec c = unit_spec();
    c.title = "Defence rate";
    c.x_label = "M";
    c.y_label = "rate";
    c.percent_y = true;
    chart_series s[] = {
        {.name = "solid", .x = a_x, .y = a_y, .n = 3, .markers = true},
        {.name = "dashed", .x = b_x, .y = b_y, .n = 3, .markers = true,
         .dashed = true},
    };
    dg_decoded_image img = draw_and_load(&c, s, 2);
    ck_assert_uint_eq(img.width, 720);
    ck_assert_uint_eq(img.height, 480);
    for (size_t i = 0; i < 3; i++) {
        /* The middle of a dot is covered fully: its colour is exact. */
        expect_pixel(&img, &c, a_x[i], a_y[i], chart_series_colour(0));
        expect_pixel(&img, &c, b_x[i], b_y[i], chart_series_colour(1));
    }
    /* Halfway along the solid line's segments. */
    expect_line_near(&img, &c, 0.25, 0.4, chart_series_colour(0));
    expect_line_near(&img, &c, 0.55, 0.45, chart_series_colour(0));
    /* Away from the lines, the grid and the legend (the legend takes the
     * free upper right corner), and in the image's corners. */
    expect_pixel(&img, &c, 0.6, 0.1, WHITE);
    expect_pixel(&img, &c, 0.15, 0.45, WHITE);
    expect_pixel(&img, &c, 0.9, 0.55, WHITE);
    ck_assert_uint_eq(pixel_at(&img, 1, 1), WHITE);
    ck_assert_uint_eq(pixel_at(&img, 718, 478), WHITE);
    dg_decoded_image_release(&img);
}
END_TEST

START_TEST(size_and_orientation)
{
    chart_spec c = unit_spec();
    c.width = 400;
    c.height = 300;
    static const double x[] = {0.5}, y[] = {0.5};
    chart_series s = {.name = "one point", .x = x, .y = y, .n = 1};
    dg_decoded_image img = draw_and_load(&c, &s, 1);
    ck_assert_uint_eq(img.width, 400);
    ck_assert_uint_eq(img.height, 300);
    dg_decoded_image_release(&img);

    double left, bottom, right, top;
    chart_to_pixel(&c, 0, 0, &left, &bottom);
    chart_to_pixel(&c, 1, 1, &right, &top);
    ck_assert(0 < left && left < right && right < 400);
    ck_assert(0 < top && top < bottom && bottom < 300);
}
END_TEST

START_TEST(gaps_break_lines)
{
    chart_spec c = unit_spec();
    static const double x[] = {0.2, 0.5, 0.8};
    const double y[] = {0.4, NAN, 0.4};
    chart_series s = {.name = "gappy", .x = x, .y = y, .n = 3};
    dg_decoded_image img = draw_and_load(&c, &s, 1);
    /* No line either side of the gap; the points beside it stand alone,
     * so they get dots although markers are off. */
    expect_pixel(&img, &c, 0.35, 0.4, WHITE);
    expect_pixel(&img, &c, 0.65, 0.4, WHITE);
    expect_pixel(&img, &c, 0.2, 0.2, WHITE);
    expect_pixel(&img, &c, 0.8, 0.2, WHITE);
    expect_pixel(&img, &c, 0.2, 0.4, chart_series_colour(0));
    expect_pixel(&img, &c, 0.8, 0.4, chart_series_colour(0));
    dg_decoded_image_release(&img);
}
END_TEST

START_TEST(outside_the_ranges_is_clipped)
{
    chart_spec c = unit_spec();
    /* A line up and out of the plot area, then a dot just above it. */
    static const double x[] = {0.3, 0.3, 0.6}, y[] = {0.5, 5.0, 1.015};
    chart_series s = {.name = "rising", .x = x, .y = y, .n = 3,
                      .markers = true};
    dg_decoded_image img = draw_and_load(&c, &s, 1);
    uint32_t rgb = chart_series_colour(0);
    expect_pixel(&img, &c, 0.3, 0.9, rgb);
    double px, top;
    chart_to_pixel(&c, 0.3, 1, &px, &top);
    /* The line reaches a few pixels past the top edge, so that a line on
     * the limit shows whole, and stops there. */
    ck_assert_uint_eq(pixel_at(&img, (long)floor(px), (long)floor(top) - 2),
                      rgb);
    ck_assert_uint_eq(pixel_at(&img, (long)floor(px), (long)floor(top) - 8),
                      WHITE);
    /* 0.015 above the range is about 6 pixels above the edge: the dot is
     * drawn, but clipped. */
    expect_pixel(&img, &c, 0.6, 1.015, WHITE);
    dg_decoded_image_release(&img);
}
END_TEST

START_TEST(far_points_draw_the_visible_part)
{
    chart_spec c = unit_spec();
    static const double rise_x[] = {0.2, 0.2}, rise_y[] = {0.5, 1e300};
    static const double flat_x[] = {-1e308, 0.8}, flat_y[] = {0.3, 0.3};
    chart_series s[] = {
        {.x = rise_x, .y = rise_y, .n = 2, .markers = true},
        {.x = flat_x, .y = flat_y, .n = 2, .markers = true},
    };
    dg_decoded_image img = draw_and_load(&c, s, 2);
    expect_pixel(&img, &c, 0.2, 0.9, chart_series_colour(0));
    expect_pixel(&img, &c, 0.1, 0.3, chart_series_colour(1));
    expect_pixel(&img, &c, 0.9, 0.3, WHITE);
    dg_decoded_image_release(&img);
}
END_TEST

START_TEST(legend_avoids_the_data)
{
    /* Rows of dots across the top tenth would be under a legend in the
     * upper right corner, the first place tried. */
    chart_spec c = unit_spec();
    enum { ROWS = 4, COLUMNS = 10 };
    double x[COLUMNS], y[ROWS][COLUMNS];
    chart_series s[ROWS];
    for (int r = 0; r < ROWS; r++) {
        for (int i = 0; i < COLUMNS; i++) {
            x[i] = 0.05 + 0.1 * i;
            y[r][i] = 0.87 + 0.03 * r;
        }
        s[r] = (chart_series){.x = x, .y = y[r], .n = COLUMNS,
                              .markers = true};
    }
    s[0].name = "a legend entry with a long name";
    dg_decoded_image img = draw_and_load(&c, s, ROWS);
    for (int r = 0; r < ROWS; r++)
        for (int i = 0; i < COLUMNS; i++)
            expect_pixel(&img, &c, x[i], y[r][i], chart_series_colour(r));
    dg_decoded_image_release(&img);
}
END_TEST

START_TEST(diagonal_for_roc)
{
    chart_spec c = unit_spec();
    c.diagonal = true;
    static const double x[] = {0, 0.1, 1}, y[] = {0, 0.9, 1};
    chart_series s = {.name = "ROC", .x = x, .y = y, .n = 3};
    dg_decoded_image img = draw_and_load(&c, &s, 1);
    /* Somewhere along the dotted line, a pixel is grey. */
    double px, py;
    chart_to_pixel(&c, 0.6, 0.6, &px, &py);
    bool grey = false;
    for (long d = -6; d <= 6 && !grey; d++) {
        uint32_t got = pixel_at(&img, (long)floor(px) + d, (long)floor(py) - d);
        grey = got != WHITE && (got >> 16) == (got & 0xff);
    }
    ck_assert_msg(grey, "no dot of the diagonal near (0.6, 0.6)");
    dg_decoded_image_release(&img);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Failures                                                               */
/* ---------------------------------------------------------------------- */

static const double one_x[] = {0.5}, one_y[] = {0.5};

START_TEST(unwritable_path_leaves_nothing)
{
    chart_spec c = unit_spec();
    chart_series s = {.name = "p", .x = one_x, .y = one_y, .n = 1};
    const char *path = tmp_path(0, "missing/chart.png");
    ck_assert_int_eq(chart_write_png(path, &c, &s, 1), DG_E_IO);
    ck_assert(!exists(tmp_path(1, "missing")));

    /* The temporary file is written, but it cannot replace a folder. */
    const char *folder = tmp_path(0, "taken");
    ck_assert_int_eq(mkdir(folder, 0700), 0);
    ck_assert_int_eq(chart_write_png(folder, &c, &s, 1), DG_E_IO);
    ck_assert(!temporary_left("taken"));
}
END_TEST

START_TEST(existing_file_replaced)
{
    chart_spec c = unit_spec();
    chart_series s = {.name = "p", .x = one_x, .y = one_y, .n = 1};
    const char *path = tmp_path(0, "chart.png");
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("old", f);
    fclose(f);
    ck_assert_int_eq(chart_write_png(path, &c, &s, 1), DG_OK);
    dg_decoded_image img;
    ck_assert_int_eq(dg_image_decode_file(path, &img), DG_OK);
    dg_decoded_image_release(&img);
    ck_assert(!temporary_left("chart.png"));
}
END_TEST

/* chart_write_png refuses c with s and draws nothing; chart_to_pixel
 * gives NaN. */
static void expect_refused(const chart_spec *c, const chart_series *s,
                           size_t n)
{
    const char *path = tmp_path(0, "refused.png");
    ck_assert_int_eq(chart_write_png(path, c, s, n), DG_E_INVALID_ARG);
    ck_assert(!exists(path));
    ck_assert(!temporary_left("refused.png"));
}

static void expect_spec_refused(const chart_spec *c)
{
    chart_series s = {.name = "p", .x = one_x, .y = one_y, .n = 1};
    expect_refused(c, &s, 1);
    double px, py;
    chart_to_pixel(c, 0.5, 0.5, &px, &py);
    ck_assert(isnan(px) && isnan(py));
}

START_TEST(bad_specs_refused)
{
    chart_spec c = unit_spec();
    c.x_max = c.x_min;
    expect_spec_refused(&c);
    c = unit_spec();
    c.y_min = 2;
    expect_spec_refused(&c);
    c = unit_spec();
    c.x_max = NAN;
    expect_spec_refused(&c);
    c = unit_spec();
    c.y_min = -INFINITY;
    expect_spec_refused(&c);
    c = unit_spec();
    c.x_tick = -0.1;
    expect_spec_refused(&c);
    c = unit_spec();
    c.y_tick = 1e-4; /* ten thousand ticks */
    expect_spec_refused(&c);
    c = unit_spec();
    c.width = 50;
    expect_spec_refused(&c);
    c = unit_spec();
    c.height = 100000;
    expect_spec_refused(&c);
    expect_spec_refused(NULL);
}
END_TEST

START_TEST(bad_series_refused)
{
    chart_spec c = unit_spec();
    chart_series s = {.name = "p", .x = one_x, .y = one_y, .n = 0};
    expect_refused(&c, &s, 1);
    s.n = 1;
    s.y = NULL;
    expect_refused(&c, &s, 1);
    expect_refused(&c, NULL, 1);
    s.y = one_y;
    expect_refused(&c, &s, 0);
    ck_assert_int_eq(chart_write_png(NULL, &c, &s, 1), DG_E_INVALID_ARG);
    ck_assert_int_eq(chart_write_png("", &c, &s, 1), DG_E_INVALID_ARG);
}
END_TEST

START_TEST(automatic_ticks_accepted)
{
    /* Tick spacing 0 on awkward ranges still gives a chart. */
    chart_spec c = {.x_min = 1, .x_max = 6, .y_min = -0.003, .y_max = 0.017,
                    .percent_y = true};
    static const double x[] = {1, 2, 3, 4, 5, 6};
    static const double y[] = {0, 0.01, 0.004, 0.015, -0.002, 0.002};
    chart_series s = {.name = "loss", .x = x, .y = y, .n = 6,
                      .markers = true};
    dg_decoded_image img = draw_and_load(&c, &s, 1);
    for (int i = 0; i < 6; i++)
        expect_pixel(&img, &c, x[i], y[i], chart_series_colour(0));
    dg_decoded_image_release(&img);
}
END_TEST

static void make_chart_dir(void)
{
    make_tmp_dir("chart");
}

static Suite *chart_suite(void)
{
    Suite *s = suite_create("chart");
    TCase *drawing = tcase_create("drawing");
    tcase_add_checked_fixture(drawing, make_chart_dir, remove_tmp_dir);
    tcase_add_test(drawing, palette_is_okabe_ito);
    tcase_add_test(drawing, series_drawn_in_their_colours);
    tcase_add_test(drawing, size_and_orientation);
    tcase_add_test(drawing, gaps_break_lines);
    tcase_add_test(drawing, outside_the_ranges_is_clipped);
    tcase_add_test(drawing, far_points_draw_the_visible_part);
    tcase_add_test(drawing, legend_avoids_the_data);
    tcase_add_test(drawing, diagonal_for_roc);
    tcase_add_test(drawing, automatic_ticks_accepted);
    suite_add_tcase(s, drawing);
    TCase *failures = tcase_create("failures");
    tcase_add_checked_fixture(failures, make_chart_dir, remove_tmp_dir);
    tcase_add_test(failures, unwritable_path_leaves_nothing);
    tcase_add_test(failures, existing_file_replaced);
    tcase_add_test(failures, bad_specs_refused);
    tcase_add_test(failures, bad_series_refused);
    suite_add_tcase(s, failures);
    return s;
}

int main(void)
{
    return run_suite(chart_suite(), CK_FORK);
}
