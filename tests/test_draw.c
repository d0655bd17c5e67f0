/* Tests for mt_draw: canvas limits, clipping, frames, lines, the upscaling blit
 * and the built-in font (every claimed glyph renders, and no two are alike). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "mt_draw.h"

static const mt_rgb BG = {255, 255, 255}, FG = {10, 20, 30};

static int is(mt_rgb a, mt_rgb b) { return a.r == b.r && a.g == b.g && a.b == b.b; }

static long count(const mt_canvas *c, mt_rgb col)
{
    long n = 0;
    for (int y = 0; y < c->h; y++)
        for (int x = 0; x < c->w; x++)
            n += is(mt_canvas_get(c, x, y), col);
    return n;
}

static void test_draw_canvas_init_limits_and_free(void **state)
{
    (void)state;
    mt_canvas c = {0};
    mt_err err = {0};
    assert_int_equal(mt_canvas_init(&c, 0, 5, BG, &err), MT_EARG);
    assert_null(c.rgb);
    assert_int_equal(mt_canvas_init(&c, 5, MT_CANVAS_MAX_SIDE + 1, BG, &err), MT_EARG);
    assert_int_equal(mt_canvas_init(&c, MT_CANVAS_MAX_SIDE, MT_CANVAS_MAX_SIDE, BG, &err), MT_EARG);
    assert_int_equal(mt_canvas_init(&c, 7, 3, FG, &err), MT_OK);
    assert_int_equal(count(&c, FG), 21);
    mt_canvas_free(&c);
    assert_null(c.rgb);
    mt_canvas_free(&c); /* twice is fine */
    mt_canvas_free(NULL);
}

static void test_draw_rect_clips_and_frame_is_inside(void **state)
{
    (void)state;
    mt_canvas c = {0};
    mt_err err = {0};
    assert_int_equal(mt_canvas_init(&c, 10, 10, BG, &err), MT_OK);
    mt_draw_rect(&c, -5, -5, 8, 8, FG); /* clipped to 3x3 */
    assert_int_equal(count(&c, FG), 9);
    mt_draw_rect(&c, 8, 8, 1000000, 2000000000, FG); /* clipped to 2x2, no overflow */
    assert_int_equal(count(&c, FG), 13);
    mt_draw_rect(&c, 20, 20, 3, 3, FG); /* wholly outside */
    assert_int_equal(count(&c, FG), 13);
    mt_canvas_free(&c);

    assert_int_equal(mt_canvas_init(&c, 10, 10, BG, &err), MT_OK);
    mt_draw_frame(&c, 1, 1, 8, 6, 2, FG);
    assert_int_equal(count(&c, FG), 8 * 6 - 4 * 2);
    assert_true(is(mt_canvas_get(&c, 1, 1), FG));
    assert_true(is(mt_canvas_get(&c, 8, 6), FG));
    assert_true(is(mt_canvas_get(&c, 3, 3), BG));
    assert_true(is(mt_canvas_get(&c, 9, 7), BG));
    mt_canvas_free(&c);
}

static void test_draw_line_hits_endpoints_in_all_directions(void **state)
{
    (void)state;
    mt_canvas c = {0};
    mt_err err = {0};
    assert_int_equal(mt_canvas_init(&c, 21, 21, BG, &err), MT_OK);
    const int ends[8][2] = {{20, 10}, {20, 3}, {17, 0}, {10, 0}, {0, 6}, {2, 20}, {10, 20}, {20, 20}};
    for (int k = 0; k < 8; k++) {
        memset(c.rgb, 255, (size_t)21 * 21 * 3);
        mt_draw_line(&c, 10, 10, ends[k][0], ends[k][1], 1, FG);
        assert_true(is(mt_canvas_get(&c, 10, 10), FG));
        assert_true(is(mt_canvas_get(&c, ends[k][0], ends[k][1]), FG));
        int dx = ends[k][0] - 10, dy = ends[k][1] - 10;
        int steps = (dx < 0 ? -dx : dx) > (dy < 0 ? -dy : dy) ? (dx < 0 ? -dx : dx) : (dy < 0 ? -dy : dy);
        assert_int_equal(count(&c, FG), steps + 1); /* one pixel per step, no gaps */
    }
    memset(c.rgb, 255, (size_t)21 * 21 * 3);
    mt_draw_line(&c, 2, 10, 18, 10, 3, FG); /* thick horizontal: 3 rows */
    assert_int_equal(count(&c, FG), (17 + 2) * 3); /* the 3x3 brush overhangs each end by 1 */
    mt_draw_line(&c, -100, -50, 300, 400, 2, FG); /* far outside: clipped, no crash */
    mt_canvas_free(&c);
}

static void test_draw_gray_upscales_nearest_neighbour(void **state)
{
    (void)state;
    mt_canvas c = {0};
    mt_err err = {0};
    assert_int_equal(mt_canvas_init(&c, 8, 6, BG, &err), MT_OK);
    const uint8_t img[6] = {0, 50, 100, 150, 200, 250}; /* 2 rows, 3 cols */
    mt_draw_gray(&c, 1, 1, img, 2, 3, 2);
    for (int r = 0; r < 2; r++)
        for (int q = 0; q < 3; q++)
            for (int d = 0; d < 4; d++) {
                uint8_t v = img[r * 3 + q];
                assert_true(is(mt_canvas_get(&c, 1 + q * 2 + d % 2, 1 + r * 2 + d / 2), (mt_rgb){v, v, v}));
            }
    assert_true(is(mt_canvas_get(&c, 0, 0), BG));
    assert_true(is(mt_canvas_get(&c, 7, 5), BG));
    mt_canvas_free(&c);
}

static void test_font_covers_printable_ascii_only(void **state)
{
    (void)state;
    for (int ch = 0; ch < 256; ch++)
        assert_int_equal(mt_font_has((char)ch), ch >= 32 && ch <= 126);
    assert_false(mt_font_pixel('A', -1, 0));
    assert_false(mt_font_pixel('A', 5, 0));
    assert_false(mt_font_pixel('A', 0, 8));
}

static void test_font_every_glyph_is_lit_and_distinct(void **state)
{
    (void)state;
    uint64_t bits[95];
    for (int ch = 32; ch <= 126; ch++) {
        uint64_t b = 0;
        for (int gy = 0; gy < 8; gy++)
            for (int gx = 0; gx < 5; gx++)
                if (mt_font_pixel((char)ch, gx, gy))
                    b |= (uint64_t)1 << (gy * 5 + gx);
        if (ch == ' ')
            assert_true(b == 0);
        else if (b == 0)
            fail_msg("glyph '%c' (%d) has no lit pixel", ch, ch);
        bits[ch - 32] = b;
    }
    for (int i = 0; i < 95; i++)
        for (int j = i + 1; j < 95; j++)
            if (bits[i] == bits[j])
                fail_msg("glyphs '%c' and '%c' are identical", i + 32, j + 32);
}

static void test_font_text_renders_glyphs_at_scale(void **state)
{
    (void)state;
    mt_canvas c = {0};
    mt_err err = {0};
    const char *s = "Ag7";
    const int sc = 3;
    assert_int_equal(mt_text_width(s, sc), 3 * 6 * sc);
    assert_int_equal(mt_canvas_init(&c, mt_text_width(s, sc) + 4, 9 * sc + 4, BG, &err), MT_OK);
    assert_int_equal(mt_draw_text(&c, 2, 2, s, sc, FG), 2 + mt_text_width(s, sc));
    for (int i = 0; i < 3; i++)
        for (int gy = 0; gy < 8; gy++)
            for (int gx = 0; gx < 5; gx++) {
                int x = 2 + (i * 6 + gx) * sc + sc / 2, y = 2 + (gy + 1) * sc + sc / 2;
                assert_int_equal(is(mt_canvas_get(&c, x, y), FG), mt_font_pixel(s[i], gx, gy));
            }
    /* the spacing column and the top row of each cell stay empty */
    for (int y = 0; y < c.h; y++)
        assert_true(is(mt_canvas_get(&c, 2 + 5 * sc, y), BG));
    for (int x = 0; x < c.w; x++)
        assert_true(is(mt_canvas_get(&c, x, 2), BG));
    mt_canvas_free(&c);
}

static void test_font_rotated_text_is_the_same_pixels_turned(void **state)
{
    (void)state;
    mt_canvas a = {0}, b = {0};
    mt_err err = {0};
    const char *s = "T:7";
    int W = mt_text_width(s, 2), H = 9 * 2;
    assert_int_equal(mt_canvas_init(&a, W, H, BG, &err), MT_OK);
    assert_int_equal(mt_canvas_init(&b, H, W, BG, &err), MT_OK);
    mt_draw_text(&a, 0, 0, s, 2, FG);
    mt_draw_text_up(&b, 0, 0, s, 2, FG);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) /* (x, y) -> (y, W-1-x) */
            assert_int_equal(is(mt_canvas_get(&a, x, y), FG), is(mt_canvas_get(&b, y, W - 1 - x), FG));
    mt_canvas_free(&a);
    mt_canvas_free(&b);
}

static void test_font_unknown_characters_draw_as_question_mark(void **state)
{
    (void)state;
    for (int gy = 0; gy < 8; gy++)
        for (int gx = 0; gx < 5; gx++)
            assert_int_equal(mt_font_pixel('\n', gx, gy), mt_font_pixel('?', gx, gy));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_draw_canvas_init_limits_and_free),
        cmocka_unit_test(test_draw_rect_clips_and_frame_is_inside),
        cmocka_unit_test(test_draw_line_hits_endpoints_in_all_directions),
        cmocka_unit_test(test_draw_gray_upscales_nearest_neighbour),
        cmocka_unit_test(test_font_covers_printable_ascii_only),
        cmocka_unit_test(test_font_every_glyph_is_lit_and_distinct),
        cmocka_unit_test(test_font_text_renders_glyphs_at_scale),
        cmocka_unit_test(test_font_rotated_text_is_the_same_pixels_turned),
        cmocka_unit_test(test_font_unknown_characters_draw_as_question_mark),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
