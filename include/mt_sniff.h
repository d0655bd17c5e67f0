/* mt_sniff: what kind of file this is, from its first bytes, so a command
 * given the wrong kind of file can say "looks like a PNG image" instead of
 * whatever its own parser trips on first. */
#ifndef MT_SNIFF_H
#define MT_SNIFF_H

#include <stddef.h>

typedef enum {
    MT_KIND_UNKNOWN = 0, MT_KIND_PNG, MT_KIND_JPEG, MT_KIND_GZIP, MT_KIND_IDX, MT_KIND_SAFETENSORS,
    MT_KIND_JSON, MT_KIND_EMPTY
} mt_kind;

/* The kind of the n bytes at head (the start of a file). */
mt_kind mt_sniff(const unsigned char *head, size_t n);
/* The same for a file; MT_KIND_UNKNOWN when it cannot be read or is not a
 * regular file (never blocks on a FIFO). */
mt_kind mt_sniff_path(const char *path);
/* "a PNG image", "gzip data (an IDX .gz file?)", ...; "" for unknown. */
const char *mt_kind_text(mt_kind k);

#endif
