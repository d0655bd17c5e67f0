/* mt_prep: MNIST-style preprocessing -- polarity, crop, 20x20 fit keeping the
 * aspect ratio, centre of mass in the middle, blank pictures refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "mt_prep.h"

static uint8_t *canvas(int w, int h, uint8_t bg)
{
    uint8_t *p = malloc((size_t)w * h);
    assert_non_null(p);
    memset(p, bg, (size_t)w * h);
    return p;
}

static void rect(uint8_t *p, int w, int x0, int y0, int x1, int y1, uint8_t v)
{
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++)
            p[(size_t)y * w + x] = v;
}

/* bounding box of pixels >= thr in out (28x28) */
static void bbox(const uint8_t *o, int *x0, int *y0, int *x1, int *y1, int thr)
{
    *x0 = *y0 = 99;
    *x1 = *y1 = -1;
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++)
            if (o[y * 28 + x] >= thr) {
                *x0 = x < *x0 ? x : *x0; *x1 = x > *x1 ? x : *x1;
                *y0 = y < *y0 ? y : *y0; *y1 = y > *y1 ? y : *y1;
            }
}

static void test_prep_fits_tall_stroke_into_20_and_centres_it(void **state)
{
    (void)state;
    /* a 10x40 white bar far off-centre in a 200x100 black picture */
    uint8_t *g = canvas(200, 100, 0), out[28 * 28];
    rect(g, 200, 150, 50, 159, 89, 255);
    mt_prep_info info;
    assert_int_equal(mt_prep_digit(out, 28, 28, g, 200, 100, &info, NULL), MT_OK);
    assert_int_equal(info.inverted, 0);
    assert_int_equal(info.x0, 150);
    assert_int_equal(info.y1, 89);
    assert_int_equal(info.box_h, 20);
    assert_int_equal(info.box_w, 5); /* aspect ratio kept: 10x40 -> 5x20 */
    int x0, y0, x1, y1;
    bbox(out, &x0, &y0, &x1, &y1, 128);
    assert_int_equal(y1 - y0 + 1, 20);
    assert_int_equal(x1 - x0 + 1, 5);
    /* centre of mass at the middle: (x0+x1)/2 and (y0+y1)/2 near 13.5 */
    assert_true(abs((x0 + x1) - 27) <= 2 && abs((y0 + y1) - 27) <= 2);
    free(g);
}

static void test_prep_inverts_light_background_to_the_same_result(void **state)
{
    (void)state;
    uint8_t *a = canvas(60, 60, 0), *b = canvas(60, 60, 255), oa[784], ob[784];
    rect(a, 60, 10, 20, 40, 30, 255);
    rect(a, 60, 10, 20, 15, 50, 255);
    rect(b, 60, 10, 20, 40, 30, 0);
    rect(b, 60, 10, 20, 15, 50, 0);
    mt_prep_info ia, ib;
    assert_int_equal(mt_prep_digit(oa, 28, 28, a, 60, 60, &ia, NULL), MT_OK);
    assert_int_equal(mt_prep_digit(ob, 28, 28, b, 60, 60, &ib, NULL), MT_OK);
    assert_int_equal(ia.inverted, 0);
    assert_int_equal(ib.inverted, 1);
    assert_memory_equal(oa, ob, 784);
    /* gray ink on a gray background is stretched to full contrast */
    uint8_t *c = canvas(60, 60, 180), oc[784];
    rect(c, 60, 10, 20, 40, 30, 100);
    rect(c, 60, 10, 20, 15, 50, 100);
    assert_int_equal(mt_prep_digit(oc, 28, 28, c, 60, 60, NULL, NULL), MT_OK);
    assert_memory_equal(oa, oc, 784);
    free(a);
    free(b);
    free(c);
}

static void test_prep_upscales_tiny_pictures(void **state)
{
    (void)state;
    uint8_t *g = canvas(5, 5, 0), out[784];
    rect(g, 5, 2, 1, 2, 3, 255); /* a 1x3 stroke */
    mt_prep_info info;
    assert_int_equal(mt_prep_digit(out, 28, 28, g, 5, 5, &info, NULL), MT_OK);
    assert_int_equal(info.box_h, 20);
    assert_int_equal(info.box_w, 7);
    int x0, y0, x1, y1;
    bbox(out, &x0, &y0, &x1, &y1, 200);
    assert_int_equal(y1 - y0 + 1, 20);
    free(g);
}

static void test_prep_refuses_blank_and_bad_sizes(void **state)
{
    (void)state;
    uint8_t *g = canvas(30, 30, 255), out[784];
    mt_err err = { 0 };
    assert_int_equal(mt_prep_digit(out, 28, 28, g, 30, 30, NULL, &err), MT_EDATA);
    assert_non_null(strstr(err.msg, "blank image"));
    g[100] = 250; /* too faint to be ink */
    assert_int_equal(mt_prep_digit(out, 28, 28, g, 30, 30, NULL, &err), MT_EDATA);
    assert_int_equal(mt_prep_digit(out, 0, 28, g, 30, 30, NULL, &err), MT_EARG);
    assert_int_equal(mt_prep_digit(out, 28, 28, g, 0, 30, NULL, &err), MT_EARG);
    free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prep_fits_tall_stroke_into_20_and_centres_it),
        cmocka_unit_test(test_prep_inverts_light_background_to_the_same_result),
        cmocka_unit_test(test_prep_upscales_tiny_pictures),
        cmocka_unit_test(test_prep_refuses_blank_and_bad_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
