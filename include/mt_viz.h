/* mt_viz: result pictures written as PNG files (via mt_png_write_rgb, so a failed
 * write never leaves a half file): a prediction grid, a grid of the most confident
 * mistakes, a confusion-matrix heatmap and learning curves.
 * Inputs are plain arrays; nothing here knows about the model or the data loader.
 * Images are 8-bit gray (0 black .. 255 white), drawn as stored (MNIST: white
 * digit on black). Labels are class indices 0..K-1 as uint8_t, like the IDX files.
 *
 * Every function returns MT_OK; MT_EARG for bad arguments (message says which);
 * MT_ENOMEM; or MT_EIO from writing the file ("<path>: ..."). */
#ifndef MT_VIZ_H
#define MT_VIZ_H

#include <stdint.h>

#include "mt_err.h"

/* Size limits of every picture: each side <= MT_VIZ_MAX_SIDE pixels and
 * w*h <= MT_VIZ_MAX_PIXELS (3 bytes each, so the canvas stays under ~96 MiB). */
#define MT_VIZ_MAX_SIDE   8192
#define MT_VIZ_MAX_PIXELS (32L * 1024 * 1024)

/* Colours used (r, g, b), exported for tests and for matching legends elsewhere. */
#define MT_VIZ_RIGHT_RGB 0, 160, 0    /* grid frame: prediction right */
#define MT_VIZ_WRONG_RGB 220, 0, 0    /* grid frame: prediction wrong */
#define MT_VIZ_INK_RGB   0, 0, 0      /* captions, titles, axes */
#define MT_VIZ_TRAIN_RGB 31, 119, 180 /* curves: training set */
#define MT_VIZ_TEST_RGB  230, 110, 0  /* curves: held-out set */

/* Options shared by the two image grids. Zero-initialise, then set what you need. */
typedef struct mt_viz_grid_opts {
    int max_cells;                 /* cells to draw; <= 0 or > available -> all */
    int n_cols;                    /* grid columns; <= 0 -> ceil(sqrt(cells)); clamped, see below */
    int scale;                     /* requested pixels per image pixel; <= 0 -> 4; may be lowered */
    const char *title;             /* one line on top, e.g. "Test accuracy 97.81% (9781/10000)"; NULL -> none */
    const char *const *class_names;/* (n_classes) names for captions, or NULL -> numbers "0".."K-1" */
    int n_classes;                 /* entries in class_names (labels >= n_classes print as numbers) */
} mt_viz_grid_opts;

/* Where things ended up, for logging ("scale lowered from 4 to 1") and tests.
 * For the grids a "cell" is one framed image; for the confusion matrix it is one
 * matrix entry. Cell (r, c) spans x in [x0 + c*pitch_x, + cell_w), y likewise. */
typedef struct mt_viz_info {
    int w, h;              /* picture size in pixels */
    int scale;             /* grids: image scale actually used */
    int n_cells;           /* cells drawn */
    int n_cols, n_rows;    /* grid shape actually used (confusion: K, K) */
    int x0, y0;            /* top-left of cell (0, 0) */
    int pitch_x, pitch_y;  /* distance between neighbouring cells */
    int cell_w, cell_h;    /* cell size, frame included */
    int frame;             /* grids: frame thickness in pixels */
    int img_x, img_y;      /* grids: top-left of the upscaled image, relative to the cell */
    int caption_y, caption_h; /* grids: caption band, relative to the cell top */
} mt_viz_info;

/* Prediction grid: the first min(n, max_cells) images in order, each upscaled
 * and framed GREEN if preds[i] == labels[i], RED otherwise, with the caption
 * "T:<true> P:<pred>" under it.
 *
 *   images (n, rows, cols) uint8, rows and cols 1..1024; labels (n); preds (n).
 *
 * Caption fitting: captions use font scale 2 when the image scale is >= 3, else
 * 1. If the longest caption does not fit the image width on one line it is split
 * into two lines ("T:<true>" / "P:<pred>"), then the font shrinks to scale 1;
 * if it still does not fit, the cells are widened up to 16 characters and longer
 * class names are cut, ending in '.'. All cells have the same size.
 *
 * Size rule (so 10000 cells work): the scale starts at opt->scale and is lowered
 * one step at a time until the picture fits MT_VIZ_MAX_SIDE and
 * MT_VIZ_MAX_PIXELS; if it does not fit at scale 1, the columns are first
 * reduced so the width fits, and if the height still does not fit -> MT_EARG.
 * E.g. 10000 MNIST cells in 100 columns come out at scale 1, ~3.8k x 5.8k px.
 * info (may be NULL) receives the layout actually used. */
mt_status mt_viz_grid(const char *path, const uint8_t *images, const uint8_t *labels,
                      const uint8_t *preds, int n, int rows, int cols,
                      const mt_viz_grid_opts *opt, mt_viz_info *info, mt_err *err);

/* Mistakes grid: from ALL n samples, picks those with preds[i] != labels[i],
 * sorts them by conf[i] descending (most confident mistakes first; ties keep
 * index order) and draws the first max_cells like mt_viz_grid, every frame red,
 * captions "T:<true> P:<pred> 0.97" where 0.97 is conf[i] (the probability the
 * model gave its predicted class, 0..1). With no mistakes the picture shows the
 * title and "No mistakes". The caller need not filter or sort. */
mt_status mt_viz_mistakes(const char *path, const uint8_t *images, const uint8_t *labels,
                          const uint8_t *preds, const float *conf, int n, int rows, int cols,
                          const mt_viz_grid_opts *opt, mt_viz_info *info, mt_err *err);

/* Confusion-matrix heatmap. counts (K, K) row-major: counts[t*K + p] = number of
 * samples of true class t predicted as p. Rows are "True", columns "Predicted",
 * both labelled with class_names (K entries) or numbers when NULL.
 * Shading is ROW-NORMALISED: cell colour goes from white (0) to dark blue (whole
 * row) with sqrt(count / row_total), so small error rates stay visible and colours
 * are comparable between classes of different size; each cell also prints its
 * absolute count (white text on dark cells, black on light, gray for 0).
 * K must be 1..100 and counts non-negative. title may be NULL. */
mt_status mt_viz_confusion(const char *path, const int *counts, int K,
                           const char *const *class_names, const char *title,
                           mt_viz_info *info, mt_err *err);

/* Learning curves: two stacked panels sharing the epoch axis (1..n_epochs):
 * top "Loss" (train_loss, test_loss), bottom "Accuracy (%)" (train_acc,
 * test_acc given as fractions 0..1, shown as percent). Any series may be NULL;
 * a panel with no series is left out; NaN or inf marks a missing point (the
 * line breaks there). Points get markers when n_epochs <= 40, and an isolated
 * point always does, so a single epoch shows as a dot. Both y axes are chosen
 * from the data with "nice" ticks (loss axis starts at 0 when all losses are >= 0).
 * Train is blue, the held-out set orange; held_out_name ("test", "val") labels
 * it in the legends (NULL -> "test"). At least one series must be present. */
typedef struct mt_viz_curves_in {
    int n_epochs;             /* points per series, >= 1 */
    const float *train_loss;  /* (n_epochs) or NULL */
    const float *test_loss;   /* (n_epochs) or NULL */
    const float *train_acc;   /* (n_epochs) fractions 0..1, or NULL */
    const float *test_acc;    /* (n_epochs) fractions 0..1, or NULL */
    const char *held_out_name;/* legend word for the test_* series; NULL -> "test" */
    const char *title;        /* NULL -> "Learning curves" */
} mt_viz_curves_in;


/* info (may be NULL): w, h; n_rows = panels drawn; x0, y0, cell_w, cell_h = the
 * plot area (inside the axes) of the first panel; pitch_y = offset to the next. */
mt_status mt_viz_curves(const char *path, const mt_viz_curves_in *in, mt_viz_info *info, mt_err *err);

/* The image a model was given (predict's 28x28 input): gray img (rows, cols),
 * rows and cols 1..1024, drawn as stored (white ink on black), each pixel a
 * scale x scale square (scale <= 0 -> 8; lowered to fit the size limits),
 * written as an RGB PNG. */
mt_status mt_viz_input(const char *path, const uint8_t *img, int rows, int cols, int scale, mt_err *err);

#endif
