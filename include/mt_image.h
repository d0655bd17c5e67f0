/* mt_image: reads a picture file of any supported kind (PNG, JPEG), told
 * apart by its first bytes, never by its name, into 8-bit gray plus the alpha
 * channel when there is one.  Pixel buffers are row-major (h, w). */
#ifndef MT_IMAGE_H
#define MT_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mt_err.h"

/* Largest picture file read into memory. */
#define MT_IMAGE_MAX_BYTES (256L * 1024 * 1024)

typedef enum { MT_IMAGE_UNKNOWN = 0, MT_IMAGE_PNG, MT_IMAGE_JPEG } mt_image_kind;

/* A decoded picture.  Zero-initialise; free with mt_image_free. */
typedef struct mt_image {
    int w, h;
    uint8_t *gray;       /* (h, w) from the colour channels only (alpha not applied) */
    uint8_t *alpha;      /* (h, w) 0 transparent .. 255 opaque, or NULL when opaque */
    mt_image_kind kind;  /* what the bytes were */
} mt_image;

/* The kind of file whose first n bytes are buf (n >= 8 to tell PNG). */
mt_image_kind mt_image_sniff(const uint8_t *buf, size_t n);

/* Decodes buf (n bytes); name is only used in messages.  *img must be zeroed,
 * written only on success.  Returns MT_OK; MT_EDATA "NAME: not a PNG or JPEG
 * file" (or the decoder's message); MT_ENOMEM. */
mt_status mt_image_decode(const uint8_t *buf, size_t n, const char *name, mt_image *img, mt_err *err);

/* Reads all of fp (never closes it; e.g. stdin) and decodes it, naming it name
 * in messages.  MT_EDATA also for a read error or a file over MT_IMAGE_MAX_BYTES. */
mt_status mt_image_read_fp(FILE *fp, const char *name, mt_image *img, mt_err *err);

/* Opens path, reads and decodes it.  MT_EDATA "PATH: cannot open: ..." etc. */
mt_status mt_image_read(const char *path, mt_image *img, mt_err *err);

void mt_image_free(mt_image *img);

/* Lists the regular files in directory dir whose first bytes say PNG or JPEG
 * (other files are skipped), as newly allocated "dir/name" paths sorted by
 * name in byte order (strcmp).  Caller frees each (*paths)[i] and *paths with
 * free() (mt_image_paths_free does both).  An empty folder gives *n = 0.
 * Returns MT_OK; MT_EDATA "DIR: cannot open folder: ..."; MT_ENOMEM. */
mt_status mt_image_list_dir(const char *dir, char ***paths, int *n, mt_err *err);
void mt_image_paths_free(char **paths, int n);

#endif
