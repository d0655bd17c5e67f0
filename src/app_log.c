/* app_log: terminal and JSON Lines output.  cJSON builds the events so string
 * escaping and number syntax are never hand-rolled. */
#include "app_log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double app_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void app_log_init(app_log *lg, int json, const char *progress)
{
    memset(lg, 0, sizeof *lg);
    lg->json = json;
    int tty = isatty(STDERR_FILENO);
    lg->bar = strcmp(progress, "on") == 0 || (strcmp(progress, "auto") == 0 && tty);
    const char *nc = getenv("NO_COLOR");
    lg->color = tty && !(nc && *nc);
}

void app_log_bar_clear(app_log *lg)
{
    if (lg->bar_drawn) {
        fputs("\r\033[K", stderr);
        lg->bar_drawn = 0;
    }
}

static void vline(app_log *lg, const char *prefix, const char *fmt, va_list ap)
{
    app_log_bar_clear(lg);
    fputs(prefix, stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    fflush(stderr);
}

void app_log_error(app_log *lg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vline(lg, "mnist-train: ", fmt, ap);
    va_end(ap);
}

void app_log_info(app_log *lg, const char *fmt, ...)
{
    va_list ap;
    if (lg->quiet)
        return;
    va_start(ap, fmt);
    vline(lg, "", fmt, ap);
    va_end(ap);
}

int app_log_bar_due(const app_log *lg, int force)
{
    return lg->bar && !lg->quiet && (force || app_now() - lg->last_draw >= 0.1);
}

void app_log_bar(app_log *lg, const char *label, long done, long total, const char *text, int force)
{
    if (!app_log_bar_due(lg, force))
        return;
    lg->last_draw = app_now();
    enum { W = 24 };
    int fill = total > 0 ? (int)((double)done / (double)total * W) : 0;
    char bar[W * 3 + 1];
    int n = 0;
    for (int i = 0; i < W; i++) {
        const char *s = i < fill ? "█" : "░";
        size_t len = strlen(s);
        memcpy(bar + n, s, len);
        n += (int)len;
    }
    bar[n] = '\0';
    fprintf(stderr, "\r\033[K%s %s%s%s %ld/%ld %s", label, lg->color ? "\033[32m" : "", bar,
            lg->color ? "\033[0m" : "", done, total, text);
    fflush(stderr);
    lg->bar_drawn = 1;
}

/* ------------------------------------------------------------ JSON events */

struct app_ev {
    cJSON *obj;
};

app_ev *app_ev_new(const char *event)
{
    app_ev *e = malloc(sizeof *e);
    if (!e)
        return NULL;
    e->obj = cJSON_CreateObject();
    if (!e->obj || !cJSON_AddStringToObject(e->obj, "event", event)) {
        cJSON_Delete(e->obj);
        free(e);
        return NULL;
    }
    return e;
}

void app_ev_num(app_ev *e, const char *key, double v)
{
    if (!e)
        return;
    if (!isfinite(v)) { /* JSON has no NaN/inf */
        cJSON_AddNullToObject(e->obj, key);
        return;
    }
    char buf[32];
    snprintf(buf, sizeof buf, "%.6g", v);
    cJSON_AddNumberToObject(e->obj, key, strtod(buf, NULL));
}

void app_ev_int(app_ev *e, const char *key, long long v)
{
    if (e)
        cJSON_AddNumberToObject(e->obj, key, (double)v);
}

void app_ev_str(app_ev *e, const char *key, const char *v)
{
    if (e)
        cJSON_AddStringToObject(e->obj, key, v);
}

void app_ev_bool(app_ev *e, const char *key, int v)
{
    if (e)
        cJSON_AddBoolToObject(e->obj, key, v);
}

void app_ev_raw(app_ev *e, const char *key, const char *json)
{
    if (e && json)
        cJSON_AddRawToObject(e->obj, key, json);
}

void app_ev_ints(app_ev *e, const char *key, const long long *v, int n)
{
    if (!e)
        return;
    cJSON *a = cJSON_AddArrayToObject(e->obj, key);
    for (int i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
}

void app_log_stdout_check(void)
{
    if (ferror(stdout) && errno == EPIPE)
        exit(128 + SIGPIPE); /* APP_EXIT_PIPE */
}

void app_ev_emit(app_log *lg, app_ev *e)
{
    if (!e)
        return;
    if (lg->json && !lg->quiet) {
        char *s = cJSON_PrintUnformatted(e->obj);
        if (s) {
            fputs(s, stdout);
            fputc('\n', stdout);
            fflush(stdout);
            free(s);
            app_log_stdout_check();
        }
    }
    cJSON_Delete(e->obj);
    free(e);
}
