/* app_log: everything the program prints: human lines and the
 * progress bar on stderr, JSON Lines events on stdout.  Library modules never
 * print; they report through return codes and callbacks that main routes here. */
#ifndef APP_LOG_H
#define APP_LOG_H

#include <stdarg.h>

typedef struct app_log {
    int json;          /* emit JSON Lines events on stdout */
    int bar;           /* draw a progress bar on stderr (a terminal) */
    int color;         /* ANSI colours allowed (terminal and no NO_COLOR) */
    int bar_drawn;     /* a bar is on screen and must be cleared first */
    double last_draw;  /* monotonic seconds of the last bar redraw */
    int quiet;         /* a run inside a larger one (train --seeds): no info lines, bar or
                          events of its own (errors still print) */
} app_log;

/* progress: "auto" (bar when stderr is a terminal), "on", "off". */
void app_log_init(app_log *lg, int json, const char *progress);
/* After writing to stdout: when its reader has gone (EPIPE; SIGPIPE is
 * ignored), exit at once and quietly with 141 (128 + SIGPIPE, APP_EXIT_PIPE).
 * No save is in progress when events are written, so nothing is left
 * half-written. */
void app_log_stdout_check(void);

/* "mnist-train: <message>" on stderr (clears the bar first). */
void app_log_error(app_log *lg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A human line on stderr. */
void app_log_info(app_log *lg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Redraws the bar (rate-limited to 10 Hz unless force): label, done/total, text. */
void app_log_bar(app_log *lg, const char *label, long done, long total, const char *text, int force);
/* Whether app_log_bar would draw now (the bar is on, and force or 0.1 s since
 * the last draw): callers skip formatting its text otherwise. */
int app_log_bar_due(const app_log *lg, int force);
void app_log_bar_clear(app_log *lg);

double app_now(void);

/* JSON events: build with app_ev_*, print one line with app_ev_emit (which
 * frees it).  Numbers are rounded to 6 significant digits unless exact ints. */
typedef struct app_ev app_ev;
app_ev *app_ev_new(const char *event);
void app_ev_num(app_ev *e, const char *key, double v);
void app_ev_int(app_ev *e, const char *key, long long v);
void app_ev_str(app_ev *e, const char *key, const char *v);
void app_ev_bool(app_ev *e, const char *key, int v);
/* Adds a raw JSON value (already valid JSON text, e.g. from app_config_to_json). */
void app_ev_raw(app_ev *e, const char *key, const char *json);
/* Adds an array of n integers. */
void app_ev_ints(app_ev *e, const char *key, const long long *v, int n);
void app_ev_emit(app_log *lg, app_ev *e);

#endif
