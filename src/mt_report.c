/* mt_report: the run report as one HTML5 page, built in memory and written
 * atomically.  Escaping follows the HTML spec's text and attribute contexts;
 * pictures are RFC 2397 data: URIs with RFC 4648 base64.  No scripts, no
 * external resources, so it opens anywhere, offline. */
#include "mt_report.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_file.h"

size_t mt_base64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

size_t mt_base64(char *out, const uint8_t *in, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
        out[o++] = tab[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

/* A growing string; oom sticks. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static int reserve(sbuf *s, size_t more)
{
    if (s->oom)
        return -1;
    if (s->len + more + 1 <= s->cap)
        return 0;
    size_t nc = s->cap ? s->cap : 4096;
    while (nc < s->len + more + 1)
        nc *= 2;
    char *np = realloc(s->p, nc);
    if (!np) {
        s->oom = 1;
        return -1;
    }
    s->p = np;
    s->cap = nc;
    return 0;
}

static void put(sbuf *s, const char *t)
{
    size_t n = strlen(t);
    if (reserve(s, n))
        return;
    memcpy(s->p + s->len, t, n + 1);
    s->len += n;
}

static void putf(sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(sbuf *s, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    put(s, tmp);
}

/* text escaped for HTML text and double-quoted attribute contexts */
static void esc(sbuf *s, const char *t)
{
    char one[2] = { 0, 0 };
    for (; t && *t; t++)
        switch (*t) {
        case '&': put(s, "&amp;"); break;
        case '<': put(s, "&lt;"); break;
        case '>': put(s, "&gt;"); break;
        case '"': put(s, "&quot;"); break;
        case '\'': put(s, "&#39;"); break;
        default: one[0] = *t; put(s, one);
        }
}

static int id_ok(const char *id)
{
    if (!id || !*id)
        return 0;
    for (; *id; id++)
        if (!((*id >= 'a' && *id <= 'z') || (*id >= '0' && *id <= '9') || *id == '_' || *id == '-'))
            return 0;
    return 1;
}

static void class_name(char *buf, size_t cap, const mt_report *r, int k)
{
    if (r->class_names)
        snprintf(buf, cap, "%s", r->class_names[k]);
    else
        snprintf(buf, cap, "%d", k);
}

static void kv_table(sbuf *s, const mt_report_kv *kv, int n)
{
    put(s, "<table class=\"kv\">\n");
    for (int i = 0; i < n; i++) {
        put(s, "<tr><th>");
        esc(s, kv[i].key);
        put(s, "</th><td>");
        esc(s, kv[i].value);
        put(s, "</td></tr>\n");
    }
    put(s, "</table>\n");
}

/* Reads a PNG file whole; MT_EDATA naming it. */
static mt_status slurp_png(const char *path, uint8_t **out, size_t *len, mt_err *err)
{
    char *buf = NULL;
    mt_status st = mt_file_read_all(path, NULL, MT_EDATA, (size_t)MT_REPORT_MAX_IMAGE, &buf, len, err);
    if (!st)
        *out = (uint8_t *)buf;
    return st;
}

static const char css[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2em auto;max-width:1100px;"
    "padding:0 1em;color:#222;background:#fff}\n"
    "h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd}\n"
    ".sub{color:#666;margin-top:0}\n"
    "table{border-collapse:collapse;margin:.5em 0}td,th{padding:.25em .6em;border:1px solid #ddd;text-align:right}\n"
    "table.kv th{text-align:left;background:#f6f6f6}table.kv td{text-align:left}\n"
    "table.conf td{min-width:2.5em}\n"
    "img{max-width:100%;height:auto;image-rendering:pixelated;border:1px solid #eee}\n"
    "pre{background:#f6f6f6;padding:.8em;overflow:auto}\n"
    "nav a{margin-right:1em}\n";

mt_status mt_report_write_html(const char *path, const mt_report *r, mt_err *err)
{
    if (!path || !r)
        return mt_errf(err, MT_EARG, "report: path or report is NULL");
    if ((r->confusion || r->metrics) && (r->K < 1 || r->K > MT_METRICS_MAX_CLASSES))
        return mt_errf(err, MT_EARG, "report: %d classes (1..%d)", r->K, MT_METRICS_MAX_CLASSES);
    for (int i = 0; i < r->n_images; i++)
        if (!id_ok(r->images[i].id) || (!r->images[i].path && !r->images[i].png))
            return mt_errf(err, MT_EARG, "report: picture %d: id must be [a-z0-9_-]+ and a file or bytes given", i);
    mt_status st = MT_OK;
    sbuf s = { 0 };
    const char *title = r->title ? r->title : "mnist-train report";
    char nm[64];

    put(&s, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">\n<title>");
    esc(&s, title);
    put(&s, "</title>\n<style>\n");
    put(&s, css);
    put(&s, "</style>\n</head>\n<body>\n<h1>");
    esc(&s, title);
    put(&s, "</h1>\n");
    if (r->subtitle) {
        put(&s, "<p class=\"sub\">");
        esc(&s, r->subtitle);
        put(&s, "</p>\n");
    }
    /* table of contents */
    put(&s, "<nav>");
    if (r->n_summary)
        put(&s, "<a href=\"#summary\">Summary</a>");
    for (int i = 0; i < r->n_images; i++) {
        putf(&s, "<a href=\"#%s\">", r->images[i].id);
        esc(&s, r->images[i].title ? r->images[i].title : r->images[i].id);
        put(&s, "</a>");
    }
    if (r->confusion)
        put(&s, "<a href=\"#confusion\">Confusion matrix</a>");
    if (r->metrics)
        put(&s, "<a href=\"#metrics\">Per-class metrics</a>");
    if (r->n_timing)
        put(&s, "<a href=\"#timing\">Timing</a>");
    if (r->config_json)
        put(&s, "<a href=\"#config\">Configuration</a>");
    put(&s, "</nav>\n");

    if (r->n_summary) {
        put(&s, "<section id=\"summary\"><h2>Summary</h2>\n");
        kv_table(&s, r->summary, r->n_summary);
        put(&s, "</section>\n");
    }
    for (int i = 0; i < r->n_images && !s.oom; i++) {
        const mt_report_image *im = &r->images[i];
        uint8_t *own = NULL;
        const uint8_t *png = im->png;
        size_t len = im->png_len;
        if (im->path) {
            if ((st = slurp_png(im->path, &own, &len, err)))
                goto fail;
            png = own;
        }
        static const uint8_t sig[8] = { 0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A };
        if (len < 8 || memcmp(png, sig, 8) != 0) {
            free(own);
            st = mt_errf(err, MT_EDATA, "%s: not a PNG file", im->path ? im->path : im->id);
            goto fail;
        }
        putf(&s, "<section id=\"%s\"><h2>", im->id);
        esc(&s, im->title ? im->title : im->id);
        put(&s, "</h2>\n<img alt=\"");
        esc(&s, im->title ? im->title : im->id);
        put(&s, "\" src=\"data:image/png;base64,");
        if (!reserve(&s, mt_base64_len(len)))
            s.len += mt_base64(s.p + s.len, png, len);
        put(&s, "\">\n</section>\n");
        free(own);
    }
    if (r->confusion) {
        const int K = r->K;
        put(&s, "<section id=\"confusion\"><h2>Confusion matrix</h2>\n"
                "<p>Rows: true class; columns: predicted class. Shading: share of the row.</p>\n"
                "<table class=\"conf\"><tr><th>true \\ pred</th>");
        for (int p = 0; p < K; p++) {
            class_name(nm, sizeof nm, r, p);
            put(&s, "<th>");
            esc(&s, nm);
            put(&s, "</th>");
        }
        put(&s, "</tr>\n");
        for (int t = 0; t < K; t++) {
            uint64_t row = 0;
            for (int p = 0; p < K; p++)
                row += r->confusion[(size_t)t * K + p];
            class_name(nm, sizeof nm, r, t);
            put(&s, "<tr><th>");
            esc(&s, nm);
            put(&s, "</th>");
            for (int p = 0; p < K; p++) {
                uint32_t c = r->confusion[(size_t)t * K + p];
                double share = row ? (double)c / (double)row : 0.0;
                /* white -> blue like the heatmap picture; text white on dark cells */
                int shade = (int)(255 - 200 * share);
                putf(&s, "<td style=\"background:rgb(%d,%d,255);color:%s\">%u</td>", shade, shade,
                     share > 0.5 ? "#fff" : c ? "#000" : "#aaa", c);
            }
            put(&s, "</tr>\n");
        }
        put(&s, "</table>\n</section>\n");
    }
    if (r->metrics) {
        const mt_metrics *m = r->metrics;
        put(&s, "<section id=\"metrics\"><h2>Per-class metrics</h2>\n"
                "<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>\n");
        for (int k = 0; k < m->K && k < r->K; k++) {
            class_name(nm, sizeof nm, r, k);
            put(&s, "<tr><th>");
            esc(&s, nm);
            putf(&s, "</th><td>%.4f</td><td>%.4f</td><td>%.4f</td><td>%llu</td></tr>\n", m->precision[k],
                 m->recall[k], m->f1[k], (unsigned long long)m->support[k]);
        }
        putf(&s, "<tr><th>macro avg</th><td>%.4f</td><td>%.4f</td><td>%.4f</td><td>%llu</td></tr>\n"
                 "</table>\n<p>Accuracy %.2f %% (%llu samples).</p>\n</section>\n",
             m->macro_precision, m->macro_recall, m->macro_f1, (unsigned long long)m->n, 100.0 * m->accuracy,
             (unsigned long long)m->n);
    }
    if (r->n_timing) {
        put(&s, "<section id=\"timing\"><h2>Timing</h2>\n");
        kv_table(&s, r->timing, r->n_timing);
        put(&s, "</section>\n");
    }
    if (r->config_json) {
        put(&s, "<section id=\"config\"><h2>Configuration</h2>\n<pre>");
        esc(&s, r->config_json);
        put(&s, "</pre>\n</section>\n");
    }
    put(&s, "</body>\n</html>\n");
    if (s.oom) {
        st = mt_errf(err, MT_ENOMEM, "%s: out of memory building the report", path);
        goto fail;
    }
    st = mt_file_write_atomic(path, s.p, s.len, err);
fail:
    free(s.p);
    return st;
}
