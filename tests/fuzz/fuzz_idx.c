/* fuzz_idx: mt_idx_load on arbitrary bytes, as a plain file and as the same
 * bytes gzip-compressed (so the decompressor always sees a valid stream and
 * the IDX checks behind it are reached); a plain input also goes through
 * mt_idx_parse, which must agree.  The first byte picks labels (idx1) or
 * images (idx3) and plain or gzip; the rest is the file. */
#include <string.h>
#include <zlib.h>

#include "fuzz_util.h"
#include "mt_idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int ndim = (data[0] & 1) ? 3 : 1, gz = (data[0] & 2) != 0;
    data++, size--;
    const char *path;
    if (gz) {
        /* deflate with a gzip wrapper (windowBits 16 + 15) into a bounded buffer */
        z_stream z;
        memset(&z, 0, sizeof z);
        if (deflateInit2(&z, 1, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            abort();
        size_t cap = deflateBound(&z, size) + 64;
        uint8_t *buf = malloc(cap);
        if (!buf)
            abort();
        z.next_in = (Bytef *)data;
        z.avail_in = (uInt)size;
        z.next_out = buf;
        z.avail_out = (uInt)cap;
        if (deflate(&z, Z_FINISH) != Z_STREAM_END)
            abort();
        path = fuzz_file(0, ".gz", buf, cap - z.avail_out);
        deflateEnd(&z);
        free(buf);
    } else {
        path = fuzz_file(1, "", data, size);
    }
    mt_idx idx = { 0 };
    mt_err err = { 0 };
    mt_status st = mt_idx_load(&idx, path, ndim, &err);
    if (st == MT_OK) {
        /* the contract: dims multiply to n_bytes and every byte is readable */
        size_t n = 1, sum = 0;
        for (int i = 0; i < idx.ndim; i++)
            n *= idx.dims[i];
        if (n != idx.n_bytes || idx.ndim != ndim)
            abort();
        for (size_t i = 0; i < n; i++)
            sum += idx.data[i];
        (void)sum;
    } else if (!err.msg[0] || strchr(err.msg, '\n')) {
        abort(); /* every failure is one non-empty line */
    }
    mt_idx_free(&idx);
    if (!gz) {
        /* the in-memory entry point must agree with the file reader */
        mt_idx mem = { 0 };
        mt_err e2 = { 0 };
        if (mt_idx_parse(&mem, data, size, "fuzz.idx", ndim, &e2) != st)
            abort();
        mt_idx_free(&mem);
    }
    return 0;
}
