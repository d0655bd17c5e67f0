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
    /* mt_prep_picture only: */
    int from_alpha;      /* 1 when the ink was read from the alpha channel */
    int threshold;       /* Otsu threshold on the ink map, 0..255 */
    int n_components;    /* ink components left after dropping specks, frames, edges */
    int n_used;          /* components taken as the digit */
    int ambiguous;       /* 1 when another ink blob at least 0.4x the digit's ink was
                            left out: no single clear digit */
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

/* out (rows, cols) = the digit in a picture as people draw and photograph it
 * (then the same MNIST geometry as mt_prep_digit).  gray (h, w) is the
 * colour channels' lightness, alpha (h, w) or NULL.
 *   - Ink in alpha: when the visible pixels (alpha >= 128) are all about one
 *     colour (2..98 % quantiles within 48 levels) while some are transparent,
 *     the ink is alpha itself (white or black strokes on a transparent canvas);
 *     otherwise alpha is composited over white.
 *   - Large pictures are area-averaged so the longer side is <= 256.
 *   - Polarity: light background (inverted) when the median is above the
 *     Otsu threshold.
 *   - Background removal: a grey opening with a square of side
 *     2*max(side/8, 2)+1 (wider than a stroke) is the local background
 *     (shadows, shading, page edges); ink = picture - background, divided by
 *     the local paper brightness on light paper.  A raised part of that
 *     background (> 24 above its median) that does not reach the picture's
 *     edge is an object wider than a stroke (a bold digit, a solid shape) and
 *     gets the median instead.  A background flat to within 24 levels is
 *     subtracted as one value.
 *   - Ink = 8-connected components above the Otsu threshold (at least 1/4 of
 *     the 99.9 % quantile).  Dropped: specks (< 3 % of the largest), hollow
 *     components (fill < 35 %) around another sizeable one (frames), and
 *     components touching the picture's edge when a free one of >= 1/4 the
 *     largest exists.  The digit is the remaining component with the most ink
 *     (weighted down by up to 1/2 towards the corners) plus every remaining
 *     component within 1/5 of the group's size from it.
 *   - The digit's ink (with a one-pixel fringe) is stretched so its 90 %
 *     quantile is 255, then fitted as mt_prep_digit does.
 * info (may be NULL) gets every field; x0..y1 are in source pixels.
 * Returns MT_OK; MT_EDATA "blank image (no ink found)"; MT_EARG; MT_ENOMEM. */
mt_status mt_prep_picture(uint8_t *out, int rows, int cols, const uint8_t *gray, const uint8_t *alpha,
                          int w, int h, mt_prep_info *info, mt_err *err);

/* Why an answer is not confident, as a bit set (0 = confident):
 * MT_PREP_UNSURE_PROB when top_prob < min_prob, MT_PREP_UNSURE_COMPONENTS when
 * info->ambiguous.  info may be NULL.  MT_PREP_MIN_PROB is the default min_prob. */
#define MT_PREP_UNSURE_PROB       1
#define MT_PREP_UNSURE_COMPONENTS 2
#define MT_PREP_MIN_PROB          0.7
int mt_prep_unsure(const mt_prep_info *info, double top_prob, double min_prob);

#endif
