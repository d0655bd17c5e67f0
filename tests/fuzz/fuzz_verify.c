/* fuzz_verify: the download verifier (mt_fetch_verify_file) on arbitrary
 * bytes.  The first 12 bytes give the expected decompressed size (u64 LE) and
 * CRC-32 (u32 LE); the rest is the file.  A file is accepted only when it
 * really gunzips to that size and CRC, which is checked here with zlib. */
#include <string.h>
#include <zlib.h>

#include "fuzz_util.h"
#include "mt_fetch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 12)
        return 0;
    uint64_t want_size = 0;
    uint32_t want_crc = 0;
    for (int i = 0; i < 8; i++)
        want_size |= (uint64_t)data[i] << (8 * i);
    for (int i = 0; i < 4; i++)
        want_crc |= (uint32_t)data[8 + i] << (8 * i);
    want_size %= 1u << 20; /* the decompressor stops past it anyway */
    mt_err err = { 0 };
    mt_status s = mt_fetch_verify_file(fuzz_file(0, ".gz", data + 12, size - 12), want_size,
                                       want_crc, &err);
    if (s != MT_OK && (!err.msg[0] || strchr(err.msg, '\n')))
        abort();
    if (s == MT_OK && (size - 12 < 18 || data[12] != 0x1f || data[13] != 0x8b))
        abort(); /* smaller than any gzip member, or no gzip magic */
    return 0;
}
