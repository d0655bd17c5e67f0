/* mt_draw: an in-memory RGB canvas with rectangles, frames, thick lines,
 * upscaled grayscale blits and a built-in 5x8 bitmap font (ASCII 32..126).
 * Coordinates are pixels, x to the right, y down, (0,0) the top-left pixel.
 * Every drawing call clips to the canvas, so partly or wholly outside shapes
 * are fine; drawing never fails and never allocates. */
#ifndef MT_DRAW_H
#define MT_DRAW_H

#include <stdbool.h>
#include <stdint.h>

#include "mt_err.h"

typedef struct mt_canvas {
    int w, h;     /* size in pixels */
    uint8_t *rgb; /* (h, w, 3) row-major, 8 bits per channel; owned by the canvas */
} mt_canvas;

typedef struct mt_rgb {
    uint8_t r, g, b;
} mt_rgb;

/* Largest canvas mt_canvas_init accepts: w, h <= MT_CANVAS_MAX_SIDE and
 * w*h <= MT_CANVAS_MAX_PIXELS (3 bytes each: 192 MiB). */
#define MT_CANVAS_MAX_SIDE   16384
#define MT_CANVAS_MAX_PIXELS (64L * 1024 * 1024)

/* Allocates a w x h canvas filled with bg. On failure *c is zeroed and:
 * MT_EARG if w/h are < 1 or over the limits above, MT_ENOMEM if malloc fails. */
mt_status mt_canvas_init(mt_canvas *c, int w, int h, mt_rgb bg, mt_err *err);
/* Frees the pixels and zeroes *c; safe on NULL and on a zeroed canvas. */
void mt_canvas_free(mt_canvas *c);

/* The pixel at (x, y), which must be inside the canvas. */
mt_rgb mt_canvas_get(const mt_canvas *c, int x, int y);
/* Sets one pixel; ignored outside the canvas. */
void mt_draw_pixel(mt_canvas *c, int x, int y, mt_rgb col);

/* Filled rectangle with top-left (x, y), size w x h (nothing if w or h <= 0). */
void mt_draw_rect(mt_canvas *c, int x, int y, int w, int h, mt_rgb col);
/* Outline of the rectangle (x, y, w, h), t pixels thick, drawn INSIDE it. */
void mt_draw_frame(mt_canvas *c, int x, int y, int w, int h, int t, mt_rgb col);
/* Line from (x0,y0) to (x1,y1) inclusive (Bresenham), stamped with a t x t
 * square centred on each point (t >= 1). */
void mt_draw_line(mt_canvas *c, int x0, int y0, int x1, int y1, int t, mt_rgb col);

/* Blits img (rows, cols) of 8-bit gray (0 black, 255 white) with its top-left at
 * (x, y), each source pixel becoming a scale x scale block (scale >= 1). */
void mt_draw_gray(mt_canvas *c, int x, int y, const uint8_t *img, int rows, int cols, int scale);

/* ---- Text ---------------------------------------------------------------
 * Each glyph is 5x8 pixels (7 rows above the baseline + 1 descender row) drawn
 * in a 6x9 cell: one blank column on the right, one blank row on top. At
 * integer scale s a character occupies (6s x 9s) pixels, so a string of n
 * characters is n*6*s wide and 9*s tall. Characters outside 32..126 are drawn
 * as '?'. Text is drawn with transparent background. */
#define MT_FONT_CELL_W 6
#define MT_FONT_CELL_H 9

/* True for the printable ASCII characters 32..126 (space has an empty glyph). */
bool mt_font_has(char ch);
/* True if pixel (gx, gy) of ch's 5x8 glyph is lit; gx 0..4, gy 0..7, else false. */
bool mt_font_pixel(char ch, int gx, int gy);
/* Width in pixels of s at scale: strlen(s) * 6 * scale. */
int mt_text_width(const char *s, int scale);
/* Draws s with the top-left of its first cell at (x, y); returns the x just
 * after the last cell (x + mt_text_width(s, scale)). */
int mt_draw_text(mt_canvas *c, int x, int y, const char *s, int scale, mt_rgb col);
/* Draws s rotated 90 degrees counter-clockwise (reading bottom to top), for
 * vertical axis labels. Its bounding box has top-left (x, y), width 9*scale and
 * height mt_text_width(s, scale); the first character is at the bottom. */
void mt_draw_text_up(mt_canvas *c, int x, int y, const char *s, int scale, mt_rgb col);

#endif
