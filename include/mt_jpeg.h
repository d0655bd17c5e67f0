/* mt_jpeg: JPEG input (baseline and progressive, gray / YCbCr / RGB) decoded
 * to 8-bit gray with libjpeg-turbo.  libjpeg's setjmp error handling is
 * confined to src/mt_jpeg.c.  Pixel buffers are row-major, tightly packed. */
#ifndef MT_JPEG_H
#define MT_JPEG_H

#include <stddef.h>
#include <stdint.h>

#include "mt_err.h"

/* Same size limits as PNG input (mt_png.h). */
#define MT_JPEG_MAX_SIDE   16384
#define MT_JPEG_MAX_PIXELS (64L * 1024 * 1024)

/* Decodes the JPEG held in buf (n bytes; name is only used in messages) into
 * a newly allocated gray buffer *gray (h, w): libjpeg's own colour conversion
 * (the luma channel Y of YCbCr, Rec. 601 weights for RGB), no colour
 * management.  CMYK/YCCK files are refused.  The caller frees *gray.
 * Returns MT_OK; MT_EDATA "NAME: not a JPEG file" / "NAME: bad JPEG: <libjpeg's
 * message>" / over the size limit; MT_EARG for NULL arguments; MT_ENOMEM.
 * Outputs written only on success. */
mt_status mt_jpeg_decode_gray(const uint8_t *buf, size_t n, const char *name, uint8_t **gray,
                              int *w, int *h, mt_err *err);

#endif
