/* Augmentation warps against transforms worked out by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mt_augment.h"
#include "mt_kern.h"

enum { R = 5, C = 6 };

static void pattern(uint8_t *img)
{
    for (int i = 0; i < R * C; i++)
        img[i] = (uint8_t)(10 + 7 * i);
}

static void test_identity_copies(void **state)
{
    (void)state;
    uint8_t a[R * C], b[R * C];
    pattern(a);
    mt_augment_warp(b, a, R, C, 0, 0, 0, 1);
    assert_memory_equal(a, b, sizeof a);
}

static void test_integer_shift_moves_pixels_and_fills_zero(void **state)
{
    (void)state;
    uint8_t a[R * C], b[R * C];
    pattern(a);
    mt_augment_warp(b, a, R, C, 2, -1, 0, 1); /* 2 right, 1 up */
    for (int y = 0; y < R; y++)
        for (int x = 0; x < C; x++) {
            int sy = y + 1, sx = x - 2;
            int want = (sy < R && sx >= 0) ? a[sy * C + sx] : 0;
            assert_int_equal(b[y * C + x], want);
        }
}

static void test_quarter_turn_rotates_square(void **state)
{
    (void)state;
    enum { N = 5 };
    uint8_t a[N * N] = { 0 }, b[N * N];
    a[0 * N + 4] = 200; /* top-right corner */
    a[2 * N + 2] = 100; /* centre stays */
    mt_augment_warp(b, a, N, N, 0, 0, 3.14159265358979f / 2, 1);
    /* counter-clockwise on screen: top-right goes to top-left */
    assert_int_equal(b[0 * N + 0], 200);
    assert_int_equal(b[2 * N + 2], 100);
    assert_int_equal(b[0 * N + 4], 0);
}

static void test_half_pixel_shift_interpolates(void **state)
{
    (void)state;
    uint8_t a[R * C] = { 0 }, b[R * C];
    a[2 * C + 2] = 200;
    mt_augment_warp(b, a, R, C, 0.5f, 0, 0, 1);
    assert_int_equal(b[2 * C + 2], 100);
    assert_int_equal(b[2 * C + 3], 100);
}

static void test_random_is_seeded_and_bounded(void **state)
{
    (void)state;
    uint8_t a[R * C], b1[R * C], b2[R * C];
    pattern(a);
    mt_augment aug = { 1.0f, 10.f, 0.1f };
    mt_rng r1, r2;
    mt_rng_seed(&r1, 3);
    mt_rng_seed(&r2, 3);
    mt_augment_random(b1, a, R, C, &aug, &r1);
    mt_augment_random(b2, a, R, C, &aug, &r2);
    assert_memory_equal(b1, b2, sizeof b1);
    assert_true(mt_augment_active(&aug));
    mt_augment none = { 0, 0, 0 };
    assert_false(mt_augment_active(&none));
}

/* The warp as one expression per value (the form it had before the SIMD
 * variants): the reference must keep its bytes. */
static float px_old(const uint8_t *src, int rows, int cols, int y, int x)
{
    return (y < 0 || y >= rows || x < 0 || x >= cols) ? 0.f : (float)src[y * cols + x];
}

static void warp_old(uint8_t *dst, const uint8_t *src, int rows, int cols, float dx, float dy, float angle,
                     float scale)
{
    float cy = (rows - 1) * 0.5f, cx = (cols - 1) * 0.5f;
    float c = cosf(angle), s = sinf(angle), inv = 1.f / scale;
    for (int y = 0; y < rows; y++)
        for (int x = 0; x < cols; x++) {
            float u = (float)x - cx - dx, v = (float)y - cy - dy;
            float sx = (c * u - s * v) * inv + cx;
            float sy = (s * u + c * v) * inv + cy;
            float fx = floorf(sx), fy = floorf(sy);
            int x0 = (int)fx, y0 = (int)fy;
            float ax = sx - fx, ay = sy - fy;
            float val = (1 - ay) * ((1 - ax) * px_old(src, rows, cols, y0, x0) + ax * px_old(src, rows, cols, y0, x0 + 1)) +
                        ay * ((1 - ax) * px_old(src, rows, cols, y0 + 1, x0) + ax * px_old(src, rows, cols, y0 + 1, x0 + 1));
            int r = (int)lrintf(val);
            dst[y * cols + x] = (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
        }
}

/* A digit-like image: mostly 0, a few strokes of 255 with soft edges. */
static void random_image(uint8_t *img, int rows, int cols, mt_rng *r)
{
    for (int i = 0; i < rows * cols; i++) {
        float u = mt_rng_uniform(r, 0.f, 1.f);
        img[i] = u < 0.7f ? 0 : u < 0.85f ? 255 : (uint8_t)mt_rng_uniform(r, 0.f, 255.99f);
    }
}

static void test_reference_keeps_the_old_bytes(void **state)
{
    (void)state;
    mt_rng r;
    mt_rng_seed(&r, 11);
    static uint8_t src[32 * 32], a[32 * 32], b[32 * 32];
    for (int t = 0; t < 3000; t++) {
        int rows = t % 2 ? 28 : 1 + t % 31, cols = t % 2 ? 28 : 1 + (t / 3) % 28;
        random_image(src, rows, cols, &r);
        float dx = mt_rng_uniform(&r, -3.f, 3.f), dy = mt_rng_uniform(&r, -3.f, 3.f);
        float ang = mt_rng_uniform(&r, -0.5f, 0.5f), sc = mt_rng_uniform(&r, 0.8f, 1.2f);
        warp_old(a, src, rows, cols, dx, dy, ang, sc);
        mt_augment_warp(b, src, rows, cols, dx, dy, ang, sc);
        assert_memory_equal(a, b, (size_t)rows * cols);
    }
}

/* Every SIMD warp this CPU runs against the reference, to the byte, on
 * awkward sizes (a row shorter than a vector, one lane past it, MNIST's 28,
 * wider than one vector, the largest the variants take and one beyond) and
 * transforms from MNIST's (a few pixels, 10 degrees) to wild ones whose taps
 * fall far outside the image. */
static void test_simd_warps_match_the_reference(void **state)
{
    (void)state;
    mt_kern_variant v[8];
    int n = mt_kern_variants(v, 8), tested = 0;
    static const int sizes[][2] = { { 1, 1 }, { 3, 7 }, { 5, 9 }, { 28, 28 }, { 17, 33 }, { 8, 16 },
                                    { 40, 3 }, { 124, 124 }, { 125, 30 }, { 2, 17 } };
    static uint8_t src[130 * 130], a[130 * 130], b[130 * 130];
    for (int i = 0; i < n; i++) {
        mt_warp_fn fn = mt_augment_warp_kernel(v[i].k);
        if (v[i].isa == MT_ISA_SCALAR)
            continue;
        if (!v[i].runnable) {
            print_message("skipped: the %s warp (this CPU cannot run it)\n", v[i].k->name);
            continue;
        }
        assert_true(fn != mt_warp_u8_ref);
        mt_rng r;
        mt_rng_seed(&r, 5);
        long long bytes = 0;
        for (int t = 0; t < 20000; t++) {
            const int *sz = sizes[t % (int)(sizeof sizes / sizeof *sizes)];
            int rows = sz[0], cols = sz[1];
            random_image(src, rows, cols, &r);
            int wild = t % 5 == 0;
            float dx = mt_rng_uniform(&r, -3.f, 3.f) * (wild ? 40.f : 1.f);
            float dy = mt_rng_uniform(&r, -3.f, 3.f) * (wild ? 40.f : 1.f);
            float ang = mt_rng_uniform(&r, -0.2f, 0.2f) * (wild ? 16.f : 1.f);
            float sc = wild ? mt_rng_uniform(&r, 0.05f, 3.f) : mt_rng_uniform(&r, 0.85f, 1.15f);
            if (t % 97 == 0) { /* exact integer shifts: taps on the border */
                dx = (float)(t % 7) - 3.f;
                dy = 0.f;
                ang = 0.f;
                sc = 1.f;
            }
            float cs = cosf(ang), sn = sinf(ang), inv = 1.f / sc;
            memset(a, 0xaa, sizeof a);
            memset(b, 0xaa, sizeof b); /* also: nothing past rows*cols is written */
            mt_warp_u8_ref(a, src, rows, cols, dx, dy, cs, sn, inv);
            fn(b, src, rows, cols, dx, dy, cs, sn, inv);
            if (memcmp(a, b, sizeof a) != 0) {
                for (int p = 0; p < rows * cols; p++)
                    if (a[p] != b[p])
                        fail_msg("%s warp: %dx%d, t %d, dx %g dy %g angle %g scale %g: pixel (%d,%d) is %d, "
                                 "the reference %d", v[i].k->name, rows, cols, t, dx, dy, ang, sc, p / cols,
                                 p % cols, b[p], a[p]);
                fail_msg("%s warp wrote past the image", v[i].k->name);
            }
            bytes += rows * cols;
        }
        print_message("%s warp: 20000 warps (%lld pixels) equal to the reference\n", v[i].k->name, bytes);
        tested++;
    }
    if (!tested)
        print_message("skipped: no SIMD warp compiled or runnable here\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_copies),
        cmocka_unit_test(test_integer_shift_moves_pixels_and_fills_zero),
        cmocka_unit_test(test_quarter_turn_rotates_square),
        cmocka_unit_test(test_half_pixel_shift_interpolates),
        cmocka_unit_test(test_random_is_seeded_and_bounded),
        cmocka_unit_test(test_reference_keeps_the_old_bytes),
        cmocka_unit_test(test_simd_warps_match_the_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
