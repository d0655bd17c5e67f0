/* mt_png: write 8-bit RGB PNG files atomically, read any PNG as 8-bit gray or RGB.
 * Pixel buffers are row-major and tightly packed: rgb is (h, w, 3), gray is (h, w).
 * libpng (and its setjmp/longjmp error handling) is confined to src/mt_png.c. */
#ifndef MT_PNG_H
#define MT_PNG_H

#include <stddef.h>
#include <stdint.h>

#include "mt_err.h"

/* Largest width or height mt_png_read_* accepts, and the largest pixel count
 * (w*h); bigger images are refused with MT_EDATA before any image-sized
 * allocation. The reader needs 4*w*h bytes at its peak (256 MiB at the limit). */
#define MT_PNG_MAX_SIDE   16384
#define MT_PNG_MAX_PIXELS (64L * 1024 * 1024)
/* Largest width or height mt_png_write_rgb accepts. */
#define MT_PNG_MAX_WRITE_SIDE 65535

/* Writes rgb (h, w, 3), 8 bits per channel, to path as a non-interlaced RGB PNG.
 *
 * The file is written to a temporary file in the target's directory (named
 * ".<basename>.XXXXXX"), flushed and fsync'ed, then rename()d over path. So path
 * is either left untouched (a previous file stays intact) or replaced by the
 * complete new file; a failed write removes its temporary file. The new file's
 * mode is 0666 minus the process umask (as for a newly created file, even when
 * it replaces one with other permissions). If path is a symlink, the link itself
 * is replaced, not its target.  Something other than a regular file at path
 * (after symlinks: a device, FIFO, socket, directory) is never replaced:
 * MT_EIO "PATH: is a character device, not a regular file: not replaced".
 *
 * Returns MT_OK;
 *   MT_EARG  if w or h is not in 1..MT_PNG_MAX_WRITE_SIDE or rgb/path is NULL
 *            (nothing is touched on disk);
 *   MT_EIO   if the file cannot be created, written or renamed; err->msg is
 *            "<path>: <what failed>: <reason>", e.g.
 *            "out/x.png: cannot create: No such file or directory";
 *   MT_ENOMEM if libpng cannot allocate its state. */
mt_status mt_png_write_rgb(const char *path, const uint8_t *rgb, int w, int h, mt_err *err);

/* Reads any valid PNG (gray, gray+alpha, RGB, RGBA, palette with or without
 * tRNS; bit depths 1/2/4/8/16; interlaced or not) into a newly allocated
 * 8-bit grayscale buffer *out (*h, *w). The caller frees *out with free().
 *
 * Conversion, done on the stored (gamma-encoded) values; gAMA/cHRM/iCCP/sRGB
 * chunks are ignored:
 *   16-bit samples are scaled to 8 bits with rounding (v * 255 / 65535);
 *   gray = (2126 R + 7152 G + 722 B) / 10000, rounded (Rec. 709 weights; a gray
 *          image keeps its values exactly);
 *   alpha (or tRNS transparency) is composited over WHITE:
 *          out = (v * a + 255 * (255 - a)) / 255, rounded.
 *          So a fully transparent pixel reads as 255.
 * MNIST-style inputs are white-on-black; a black-on-white scan must be inverted
 * by the caller.
 *
 * Returns MT_OK and sets *out, *w, *h; on failure they are not written and:
 *   MT_EDATA  for a missing/unreadable file, a non-PNG, a corrupt or truncated
 *             PNG, or an image over the size limits; err->msg is one line
 *             naming path, e.g. "x.png: not a PNG file (bad signature)";
 *   MT_ENOMEM if the pixel buffer cannot be allocated. */
mt_status mt_png_read_gray(const char *path, uint8_t **out, int *w, int *h, mt_err *err);

/* Same as mt_png_read_gray but gives 8-bit RGB (h, w, 3); alpha is composited
 * over white per channel. Same limits, errors and ownership (free()). */
mt_status mt_png_read_rgb(const char *path, uint8_t **out, int *w, int *h, mt_err *err);

/* Decodes the PNG held in buf (n bytes; name is only used in messages) into
 * newly allocated 8-bit gray (h, w) computed from the colour channels alone
 * (same weights and 16-bit scaling as mt_png_read_gray, but NOT composited),
 * and, when the PNG has an alpha channel or tRNS, its alpha (h, w) in *alpha
 * (else *alpha = NULL): a drawing app's "white ink on transparent" keeps its
 * ink in alpha, which compositing would erase.  Same limits as the readers.
 * The caller frees *gray and *alpha with free().  Returns MT_OK; MT_EDATA
 * "NAME: not a PNG file (bad signature)" / "NAME: bad PNG: ..." / truncated;
 * MT_EARG for NULL arguments; MT_ENOMEM.  Outputs written only on success. */
mt_status mt_png_decode_gray_alpha(const uint8_t *buf, size_t n, const char *name, uint8_t **gray,
                                   uint8_t **alpha, int *w, int *h, mt_err *err);

#endif
