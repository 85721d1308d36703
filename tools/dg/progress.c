/* progress.c - progress of long work on stderr: a redrawn bar on a
 * terminal, plain periodic lines in logs. */
#include "cli.h"

#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { BAR_WIDTH = 24 };

/* Quick work shows nothing; a terminal is redrawn at most ten times a
 * second; logs get a line every tenth of the work or every ten seconds. */
static const double quiet_start_seconds = 1.0;
static const double redraw_seconds = 0.1;
static const double log_seconds = 10.0;

typedef struct progress_state {
    bool disabled; /* --quiet */
    bool active;
    bool terminal;
    bool shown;   /* something was printed for this work */
    bool on_line; /* the terminal line holds the bar */
    const char *label;
    uint64_t total, done;
    uint64_t shown_done; /* the count the last line showed */
    double start, last_shown;
    uint64_t last_tenth; /* logs: the last tenth of the work reported */
} progress_state;

static progress_state bar;

double monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volatile sig_atomic_t interrupt_requested;

static void on_interrupt(int signal_number)
{
    (void)signal_number;
    interrupt_requested = 1;
}

/* The first Ctrl-C asks long work to stop at its next progress report; the
 * handler then resets, so a second one ends the process at once. */
void catch_interrupts(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

bool cli_interrupted(void) { return interrupt_requested; }

int progress_callback(void *user, const char *stage, uint64_t done,
                      uint64_t total, double metric)
{
    (void)metric;
    bool *started = user;
    if (!*started) progress_start(stage, total);
    *started = true;
    progress_update(done);
    return interrupt_requested;
}

/* "1:05:09" or "5:09". */
static void format_duration(double seconds, char *buf, size_t size)
{
    unsigned long s = seconds > 0 && seconds < 1e9 ? (unsigned long)seconds
                                                   : 0;
    if (s >= 3600)
        snprintf(buf, size, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, size, "%lu:%02lu", s / 60, s % 60);
}

/* Rate per second, and "ETA 0:41" while running or "in 1:21" when done. */
static void format_timing(double elapsed, double *rate, char *buf,
                          size_t size)
{
    char duration[32];
    *rate = elapsed > 0 ? (double)bar.done / elapsed : 0;
    if (bar.done >= bar.total) {
        format_duration(elapsed, duration, sizeof duration);
        snprintf(buf, size, "in %s", duration);
    } else if (*rate > 0) {
        format_duration((double)(bar.total - bar.done) / *rate, duration,
                        sizeof duration);
        snprintf(buf, size, "ETA %s", duration);
    } else {
        snprintf(buf, size, "ETA --:--");
    }
}

static unsigned percent_done(void)
{
    return bar.total ? (unsigned)(100 * bar.done / bar.total) : 100;
}

static void draw_terminal(double now)
{
    double rate;
    char timing[48], cells[BAR_WIDTH + 1];
    format_timing(now - bar.start, &rate, timing, sizeof timing);
    size_t filled = bar.total ? (size_t)(BAR_WIDTH * bar.done / bar.total)
                              : BAR_WIDTH;
    for (size_t i = 0; i < BAR_WIDTH; i++) cells[i] = i < filled ? '#' : '-';
    cells[BAR_WIDTH] = '\0';
    /* \r and erase-to-end redraw the line in place. */
    fprintf(stderr, "\r\033[K%.20s [%s] %3u%%  %llu/%llu  %.1f/s  %s",
            bar.label, cells, percent_done(), (unsigned long long)bar.done,
            (unsigned long long)bar.total, rate, timing);
    fflush(stderr);
    bar.on_line = true;
}

static void print_log_line(double now)
{
    double rate;
    char timing[48];
    format_timing(now - bar.start, &rate, timing, sizeof timing);
    fprintf(stderr, "%s: %llu/%llu (%u%%), %.1f/s, %s\n", bar.label,
            (unsigned long long)bar.done, (unsigned long long)bar.total,
            percent_done(), rate, timing);
}

/* Shows the current state if enough time or work has passed. */
static void show(bool final)
{
    double now = monotonic_seconds();
    if (!final && now - bar.start < quiet_start_seconds) return;
    bool still_visible = bar.on_line || !bar.terminal;
    if (final && (!bar.shown ||
                  (bar.shown_done == bar.done && still_visible)))
        return;
    uint64_t tenth = bar.total ? 10 * bar.done / bar.total : 10;
    if (bar.terminal) {
        if (!final && bar.on_line && now - bar.last_shown < redraw_seconds)
            return;
        draw_terminal(now);
    } else {
        if (!final && bar.shown && tenth == bar.last_tenth &&
            now - bar.last_shown < log_seconds)
            return;
        print_log_line(now);
    }
    bar.shown = true;
    bar.shown_done = bar.done;
    bar.last_shown = now;
    bar.last_tenth = tenth;
}

void progress_set_enabled(bool enabled) { bar.disabled = !enabled; }

void progress_start(const char *label, uint64_t total)
{
    bar = (progress_state){
        .disabled = bar.disabled,
        .active = !bar.disabled,
        .terminal = isatty(STDERR_FILENO),
        .label = label,
        .total = total,
        .start = monotonic_seconds(),
    };
}

void progress_update(uint64_t done)
{
    if (!bar.active) return;
    bar.done = done;
    show(false);
}

void progress_finish(void)
{
    if (!bar.active) return;
    bar.done = bar.total;
    show(true);
    if (bar.on_line) fputc('\n', stderr);
    bar.active = false;
    bar.on_line = false;
}

void progress_clear(void)
{
    if (!bar.on_line) return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    bar.on_line = false;
}
