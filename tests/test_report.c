/* mt_report: the HTML run report -- every section present, pictures embedded
 * byte for byte, text escaped, atomic writes -- and, in headless chromium
 * (tests/js/report_check.js with puppeteer-core), a page that loads with no
 * console error and decodes every picture.  The browser check skips with a
 * message when chromium or puppeteer-core is missing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "mt_report.h"
#include "mt_viz.h"
#include "test_util.h"

static char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, fp), (size_t)len);
    buf[len] = '\0';
    fclose(fp);
    if (n)
        *n = (size_t)len;
    return buf;
}

/* An independent base64 decoder (RFC 4648) for checking what was embedded. */
static size_t unbase64(uint8_t *out, const char *in, size_t n)
{
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n && in[i] != '='; i++) {
        const char *tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const char *p = strchr(tab, in[i]);
        assert_non_null(p);
        acc = acc << 6 | (uint32_t)(p - tab);
        if ((bits += 6) >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return o;
}

static void test_report_base64_matches_rfc4648_vectors(void **state)
{
    (void)state;
    const char *in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
    const char *want[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
    char out[16];
    for (int i = 0; i < 7; i++) {
        assert_int_equal(mt_base64(out, (const uint8_t *)in[i], strlen(in[i])), strlen(want[i]));
        assert_string_equal(out, want[i]);
        assert_int_equal(mt_base64_len(strlen(in[i])), strlen(want[i]));
    }
}

/* Writes the pictures a run has (curves, confusion heatmap, mistakes) into
 * dir and fills a report of them; the caller frees nothing (static data). */
static const uint32_t conf3[9] = { 50, 2, 0, 3, 40, 1, 0, 4, 45 };
static const char *const names3[3] = { "zero", "one", "<two>" };

static void make_pictures(const char *dir)
{
    const float tl[3] = { 0.5f, 0.3f, 0.2f }, vl[3] = { 0.45f, 0.32f, 0.25f }, va[3] = { 0.8f, 0.9f, 0.93f };
    mt_viz_curves_in cin = { 3, tl, vl, NULL, va, NULL, NULL };
    assert_int_equal(mt_viz_curves(tu_in(dir, "curves.png"), &cin, NULL, NULL), MT_OK);
    int counts[9];
    for (int i = 0; i < 9; i++)
        counts[i] = (int)conf3[i];
    assert_int_equal(mt_viz_confusion(tu_in(dir, "confusion.png"), counts, 3, NULL, NULL, NULL, NULL), MT_OK);
    uint8_t imgs[4 * 28 * 28], labels[4] = { 0, 1, 2, 1 }, preds[4] = { 1, 1, 0, 2 };
    float conf[4] = { 0.9f, 0.8f, 0.7f, 0.6f };
    for (int i = 0; i < 4 * 28 * 28; i++)
        imgs[i] = (uint8_t)(i * 7);
    mt_viz_grid_opts o = { 0 };
    assert_int_equal(mt_viz_mistakes(tu_in(dir, "mistakes.png"), imgs, labels, preds, conf, 4, 28, 28, &o, NULL, NULL),
                     MT_OK);
}

/* Paths of their own: tu_in's buffers rotate. */
static char pic_path[4][320];

static void fill(mt_report *r, mt_report_image *ims, mt_metrics *m, const char *dir)
{
    const char *files[3] = { "curves.png", "confusion.png", "mistakes.png" };
    for (int i = 0; i < 3; i++)
        snprintf(pic_path[i], sizeof pic_path[i], "%s/%s", dir, files[i]);
    static const mt_report_kv summary[] = { { "Test accuracy", "90.00 % (135/150)" }, { "Test loss", "0.31" } };
    static const mt_report_kv timing[] = { { "training", "1.2 s" }, { "test", "0.1 s" } };
    assert_int_equal(mt_metrics_compute(m, conf3, 3, NULL), MT_OK);
    ims[0] = (mt_report_image){ "curves", "Learning curves", pic_path[0], NULL, 0 };
    ims[1] = (mt_report_image){ "confusion-heatmap", "Confusion heatmap", pic_path[1], NULL, 0 };
    ims[2] = (mt_report_image){ "mistakes", "Most confident mistakes", pic_path[2], NULL, 0 };
    *r = (mt_report){ "Run <report>", "mnist-train train --epochs 3", summary, 2, ims, 3, conf3, m, names3, 3,
                      timing, 2, "{\"lr\": 0.001, \"note\": \"</pre><script>alert(1)</script>\"}" };
}

static void test_report_has_every_section_and_embeds_pictures_exactly(void **state)
{
    (void)state;
    const char *dir = tu_mkdtemp();
    make_pictures(dir);
    mt_report r;
    mt_report_image ims[3];
    mt_metrics m;
    fill(&r, ims, &m, dir);
    mt_err err = { 0 };
    if (mt_report_write_html(tu_in(dir, "r.html"), &r, &err))
        fail_msg("%s", err.msg);
    char *html = slurp(tu_in(dir, "r.html"), NULL);
    assert_true(strncmp(html, "<!DOCTYPE html>", 15) == 0);
    const char *ids[] = { "summary", "curves", "confusion-heatmap", "mistakes", "confusion", "metrics", "timing",
                          "config" };
    for (int i = 0; i < 8; i++) {
        char want[64];
        snprintf(want, sizeof want, "<section id=\"%s\">", ids[i]);
        if (!strstr(html, want))
            fail_msg("section %s missing", ids[i]);
    }
    /* every picture decodes back to its file's bytes */
    const char *p = html;
    for (int i = 0; i < 3; i++) {
        p = strstr(p, "data:image/png;base64,");
        assert_non_null(p);
        p += strlen("data:image/png;base64,");
        size_t n = strcspn(p, "\""), flen;
        char *file = slurp(ims[i].path, &flen);
        uint8_t *dec = malloc(n);
        assert_non_null(dec);
        assert_int_equal(unbase64(dec, p, n), flen);
        assert_memory_equal(dec, file, flen);
        free(dec);
        free(file);
    }
    /* text is escaped: no markup from names or the config gets through */
    assert_null(strstr(html, "<script"));
    assert_non_null(strstr(html, "&lt;/pre&gt;&lt;script&gt;"));
    assert_non_null(strstr(html, "<th>&lt;two&gt;</th>"));
    assert_non_null(strstr(html, "<title>Run &lt;report&gt;</title>"));
    /* the metrics table: class "one": P = 40/46, R = 40/44 */
    char row[160];
    snprintf(row, sizeof row, "<tr><th>one</th><td>%.4f</td><td>%.4f</td>", 40.0 / 46, 40.0 / 44);
    assert_non_null(strstr(html, row));
    assert_non_null(strstr(html, ">50</td>"));
    free(html);

    /* the page in a real browser */
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "command -v node >/dev/null || { echo 'skip - node is not installed (Debian: nodejs)'; exit 77; }; "
             "node tests/js/report_check.js %s summary curves confusion-heatmap mistakes confusion metrics timing config",
             tu_in(dir, "r.html"));
    int rc = system(cmd);
    rc = rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    tu_rmrf(dir);
    assert_true(rc == 0 || rc == 77);
    if (rc == 77)
        skip();
}

static void test_report_failures_leave_the_previous_file(void **state)
{
    (void)state;
    const char *dir = tu_mkdtemp();
    make_pictures(dir);
    mt_report r;
    mt_report_image ims[3];
    mt_metrics m;
    fill(&r, ims, &m, dir);
    FILE *fp = fopen(tu_in(dir, "r.html"), "w");
    fputs("old", fp);
    fclose(fp);
    mt_err err = { 0 };
    snprintf(pic_path[3], sizeof pic_path[3], "%s/missing.png", dir);
    ims[1].path = pic_path[3];
    assert_int_equal(mt_report_write_html(tu_in(dir, "r.html"), &r, &err), MT_EDATA);
    assert_non_null(strstr(err.msg, "missing.png"));
    snprintf(pic_path[3], sizeof pic_path[3], "%s/r.html", dir);
    ims[1].path = pic_path[3]; /* not a PNG */
    assert_int_equal(mt_report_write_html(tu_in(dir, "r.html"), &r, &err), MT_EDATA);
    assert_non_null(strstr(err.msg, "not a PNG"));
    char *old = slurp(tu_in(dir, "r.html"), NULL);
    assert_string_equal(old, "old");
    free(old);
    ims[1].path = pic_path[0];
    ims[1].id = "Bad Id";
    assert_int_equal(mt_report_write_html(tu_in(dir, "r.html"), &r, &err), MT_EARG);
    ims[1].id = "ok";
    assert_int_equal(mt_report_write_html(tu_in(dir, "no/such/dir/r.html"), &r, &err), MT_EIO);
    /* a minimal report: only a summary */
    mt_report min = { 0 };
    min.summary = r.summary;
    min.n_summary = 1;
    assert_int_equal(mt_report_write_html(tu_in(dir, "min.html"), &min, &err), MT_OK);
    char *html = slurp(tu_in(dir, "min.html"), NULL);
    assert_non_null(strstr(html, "<title>mnist-train report</title>"));
    assert_null(strstr(html, "id=\"metrics\""));
    free(html);
    tu_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_base64_matches_rfc4648_vectors),
        cmocka_unit_test(test_report_has_every_section_and_embeds_pictures_exactly),
        cmocka_unit_test(test_report_failures_leave_the_previous_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
