/* mt_sniff: magic numbers (PNG: ISO/IEC 15948 signature; JPEG: SOI marker;
 * gzip: RFC 1952; IDX: LeCun's 0x0000 08 NN; safetensors: an 8-byte
 * little-endian header length, then '{'). */
#include "mt_sniff.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

mt_kind mt_sniff(const unsigned char *h, size_t n)
{
    static const unsigned char png[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    if (n == 0)
        return MT_KIND_EMPTY;
    if (n >= 8 && memcmp(h, png, 8) == 0)
        return MT_KIND_PNG;
    if (n >= 3 && h[0] == 0xff && h[1] == 0xd8 && h[2] == 0xff)
        return MT_KIND_JPEG;
    if (n >= 2 && h[0] == 0x1f && h[1] == 0x8b)
        return MT_KIND_GZIP;
    if (n >= 4 && h[0] == 0 && h[1] == 0 && h[2] == 0x08 && h[3] >= 1 && h[3] <= 4)
        return MT_KIND_IDX;
    if (n >= 9 && h[8] == '{' && h[6] == 0 && h[7] == 0)
        return MT_KIND_SAFETENSORS;
    size_t i = 0;
    while (i < n && (h[i] == ' ' || h[i] == '\n' || h[i] == '\r' || h[i] == '\t'))
        i++;
    if (i < n && h[i] == '{')
        return MT_KIND_JSON;
    return MT_KIND_UNKNOWN;
}

mt_kind mt_sniff_path(const char *path)
{
    unsigned char h[16];
    struct stat sb;
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    if (fd < 0)
        return MT_KIND_UNKNOWN;
    ssize_t n = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? read(fd, h, sizeof h) : -1;
    close(fd);
    return n < 0 ? MT_KIND_UNKNOWN : mt_sniff(h, (size_t)n);
}

const char *mt_kind_text(mt_kind k)
{
    switch (k) {
    case MT_KIND_PNG:         return "a PNG image";
    case MT_KIND_JPEG:        return "a JPEG image";
    case MT_KIND_GZIP:        return "gzip data (an IDX .gz file?)";
    case MT_KIND_IDX:         return "an IDX data file";
    case MT_KIND_SAFETENSORS: return "a safetensors checkpoint";
    case MT_KIND_JSON:        return "JSON text (a config file?)";
    case MT_KIND_EMPTY:       return "an empty file";
    case MT_KIND_UNKNOWN:     break;
    }
    return "";
}
