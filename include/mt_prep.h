/* mt_prep: turns a picture of one digit into an MNIST-style input, the way
 * MNIST itself was made (LeCun et al.: "normalized to fit in a 20x20 pixel box
 * while preserving their aspect ratio ... centered in a 28x28 image by
 * computing the center of mass of the pixels"): white ink on black, cropped
 * to the ink's bounding box, scaled to fit the box with area averaging
 * (anti-aliased), centred by centre of mass.  No file I/O (mt_png reads). */
#ifndef MT_PREP_H
#define MT_PREP_H

#include <stdint.h>

#include "mt_err.h"

typedef struct mt_prep_info {
    int inverted;        /* 1 when the background was light and the picture was inverted */
    int x0, y0, x1, y1;  /* ink bounding box in the source, inclusive */
    int box_w, box_h;    /* size of the scaled digit inside out */
} mt_prep_info;

/* out (rows, cols) = the digit in gray (h, w), 0 = background, 255 = ink.
 * The background polarity is taken from the mean of the border pixels
 * (light -> inverted); contrast is stretched from the background level to the
 * brightest pixel; the ink (stretched value >= 32) bounding box is scaled so
 * its longer side is round(20/28 * min(rows, cols)); the centre of mass lands
 * on the centre of out (pixels pushed past the edge are dropped).
 * info may be NULL.  Returns MT_OK; MT_EDATA "blank image (no ink found)" when
 * the picture has (almost) no contrast; MT_EARG for bad sizes; MT_ENOMEM. */
mt_status mt_prep_digit(uint8_t *out, int rows, int cols, const uint8_t *gray, int w, int h,
                        mt_prep_info *info, mt_err *err);

#endif
