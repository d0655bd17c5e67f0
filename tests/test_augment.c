/* Augmentation warps against transforms worked out by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "mt_augment.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_copies),
        cmocka_unit_test(test_integer_shift_moves_pixels_and_fills_zero),
        cmocka_unit_test(test_quarter_turn_rotates_square),
        cmocka_unit_test(test_half_pixel_shift_interpolates),
        cmocka_unit_test(test_random_is_seeded_and_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
