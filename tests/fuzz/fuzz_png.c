/* fuzz_png: the PNG reader (gray and RGB) on arbitrary bytes, then the digit
 * preparation (mt_prep_digit) on every picture it accepts, as predict does. */
#include <string.h>

#include "fuzz_util.h"
#include "mt_png.h"
#include "mt_prep.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(0, ".png", data, size);
    uint8_t *gray = NULL, *rgb = NULL;
    int w = 0, h = 0, w2 = 0, h2 = 0;
    mt_err err = { 0 };
    mt_status s = mt_png_read_gray(path, &gray, &w, &h, &err);
    if (s != MT_OK) {
        if (!err.msg[0] || strchr(err.msg, '\n'))
            abort();
        return 0;
    }
    if (w < 1 || h < 1 || w > MT_PNG_MAX_SIDE || h > MT_PNG_MAX_SIDE)
        abort();
    uint8_t out[28 * 28];
    mt_prep_info info;
    if (mt_prep_digit(out, 28, 28, gray, w, h, &info, &err) == MT_OK &&
        (info.x0 < 0 || info.x1 >= w || info.y0 < 0 || info.y1 >= h || info.x0 > info.x1))
        abort();
    /* the RGB reader must agree on the size */
    if (mt_png_read_rgb(path, &rgb, &w2, &h2, &err) != MT_OK || w2 != w || h2 != h)
        abort();
    free(rgb);
    free(gray);
    return 0;
}
