/* AVX-512 (F/BW/DQ/VL) kernels: the vector layer for kern_simd.h, 16 lanes,
 * 4x4-vector GEMM tiles (16 zmm accumulators), masked loads for ragged edges.
 * Compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx2 -mfma for
 * this object only; mt_kern.c calls it only when the CPU reports AVX-512. */
#include <immintrin.h>
#include <stdint.h>

#include "kern_impl.h"

typedef __m512 vf;
#define VW 16
#define MR 6
#define NR 4
#define KC 128
#define KERN_NAME "avx512"
#define KSFX(name) name##_avx512
#define TILE_LIST(X) X(1, 1) X(1, 2) X(1, 3) X(1, 4) X(2, 1) X(2, 2) X(2, 3) X(2, 4) \
                     X(3, 1) X(3, 2) X(3, 3) X(3, 4) X(4, 1) X(4, 2) X(4, 3) X(4, 4) \
                     X(5, 1) X(5, 2) X(5, 3) X(5, 4) X(6, 1) X(6, 2) X(6, 3) X(6, 4)

#define LMASK(n) ((__mmask16)((1u << (n)) - 1u))
#define V_ZERO() _mm512_setzero_ps()
#define V_SET1(x) _mm512_set1_ps(x)
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_STORE(p, v) _mm512_storeu_ps((p), (v))
#define V_LOADN(p, n) _mm512_maskz_loadu_ps(LMASK(n), (p))
#define V_STOREN(p, v, n) _mm512_mask_storeu_ps((p), LMASK(n), (v))
#define V_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define V_FMA_LO(a, b, c) _mm512_castps256_ps512(_mm256_fmadd_ps(_mm512_castps512_ps256(a), \
                         _mm512_castps512_ps256(b), _mm512_castps512_ps256(c)))
#define V_LOADN_LO(p, n) _mm512_castps256_ps512((n) == 8 ? _mm256_loadu_ps(p) \
                         : _mm256_maskz_loadu_ps((__mmask8)((1u << (n)) - 1u), (p)))
#define V_ADD(a, b) _mm512_add_ps((a), (b))
#define V_SUB(a, b) _mm512_sub_ps((a), (b))
#define V_MUL(a, b) _mm512_mul_ps((a), (b))
#define V_DIV(a, b) _mm512_div_ps((a), (b))
#define V_MAX(a, b) _mm512_max_ps((a), (b))
#define V_SQRT(a) _mm512_sqrt_ps(a)
#define V_SELGTN(v, m, a, b) _mm512_mask_blend_ps((__mmask16)(_mm512_cmp_ps_mask((v), (m), _CMP_GT_OQ) | \
                                                             _mm512_cmp_ps_mask((v), (v), _CMP_UNORD_Q)), (a), (b))
#define V_MASKLE0(v, m) _mm512_maskz_mov_ps(_mm512_cmp_ps_mask((m), _mm512_setzero_ps(), _CMP_GT_OQ), (v))
#define V_LOADU8(p) _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p))))

/* 16x16 transpose in registers: 4 stages of 16 shuffles. */
static inline __attribute__((always_inline)) void vtranspose(vf r[16])
{
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int g = 0; g < 4; g++) {
        __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 1]);
        __m512d c = _mm512_castps_pd(t[4 * g + 2]), d = _mm512_castps_pd(t[4 * g + 3]);
        u[4 * g + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    /* u[4g+m] holds, in 128-bit lane L, rows 4g..4g+3 of column 4L+m. */
    for (int m = 0; m < 4; m++) {
        __m512 v0 = _mm512_shuffle_f32x4(u[m], u[4 + m], _MM_SHUFFLE(2, 0, 2, 0));
        __m512 v1 = _mm512_shuffle_f32x4(u[m], u[4 + m], _MM_SHUFFLE(3, 1, 3, 1));
        __m512 w0 = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], _MM_SHUFFLE(2, 0, 2, 0));
        __m512 w1 = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], _MM_SHUFFLE(3, 1, 3, 1));
        r[m] = _mm512_shuffle_f32x4(v0, w0, _MM_SHUFFLE(2, 0, 2, 0));
        r[8 + m] = _mm512_shuffle_f32x4(v0, w0, _MM_SHUFFLE(3, 1, 3, 1));
        r[4 + m] = _mm512_shuffle_f32x4(v1, w1, _MM_SHUFFLE(2, 0, 2, 0));
        r[12 + m] = _mm512_shuffle_f32x4(v1, w1, _MM_SHUFFLE(3, 1, 3, 1));
    }
}

/* expf to ~2 ulp (Cephes polynomial, range reduction by ln 2 in two parts). */
static inline vf v_exp(vf x)
{
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
    vf fx = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
    x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.12194440e-4f), x);
    vf y = _mm512_set1_ps(1.9875691500e-4f);
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.3981999507e-3f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(8.3334519073e-3f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(4.1665795894e-2f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.6666665459e-1f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(5.0000001201e-1f));
    y = _mm512_fmadd_ps(y, _mm512_mul_ps(x, x), _mm512_add_ps(x, _mm512_set1_ps(1.f)));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(fx), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(y, _mm512_castsi512_ps(e));
}

/* sparse_row_list: the non-zero pixels' entries (column | pixel <<
 * MT_SP_COL_BITS) compressed to the front, whole vectors stored (the lists
 * have MT_SP_SLACK entries of slack): 64 pixels at a time where the CPU has
 * VBMI2 (checked per call: one load and test), else 16. */
#define KERN_ROW_LIST_VEC
/* bit j set when p[j] != 0, n <= 64 (bytes past n are not read) */
static inline uint64_t nzmask(const uint8_t *p, int n)
{
    __m512i v = _mm512_maskz_loadu_epi8(n >= 64 ? ~0ull : (1ull << n) - 1, p);
    return _mm512_test_epi8_mask(v, v);
}

/* 64 x 64 bit transpose (see kern_simd.h), a[k] bit j <-> a[j] bit k: eight
 * registers of eight rows; the swaps of rows 32, 16 and 8 apart pair
 * registers, those 4, 2 and 1 apart pair lanes of one register (each lane
 * computes its side of the swap from its partner's copy). */
#define KERN_BIT_TRANSPOSE64
static inline __m512i swap_rows_lanes(__m512i x, __m512i y, int s, __mmask8 hi, __m512i m)
{
    /* lo lanes: x ^ ((((x >> s) ^ y) & m) << s); hi lanes: x ^ (((y >> s) ^ x) & m) */
    __m512i lo = _mm512_xor_si512(x, _mm512_slli_epi64(_mm512_ternarylogic_epi64(_mm512_srli_epi64(x, s), y, m, 0x28), s));
    __m512i up = _mm512_xor_si512(x, _mm512_ternarylogic_epi64(_mm512_srli_epi64(y, s), x, m, 0x28));
    return _mm512_mask_blend_epi64(hi, lo, up);
}

static void bit_transpose64(uint64_t a[64])
{
    __m512i r[8];
    for (int j = 0; j < 8; j++)
        r[j] = _mm512_loadu_si512(a + 8 * j);
    static const uint64_t lo[3] = { 0x00000000ffffffffull, 0x0000ffff0000ffffull, 0x00ff00ff00ff00ffull };
    for (int st = 0, d = 4; d; st++, d >>= 1) { /* rows 32, 16, 8 apart: registers d apart */
        const __m512i m = _mm512_set1_epi64((long long)lo[st]);
        const int s = 8 * d;
        for (int j = 0; j < 8; j++)
            if (!(j & d)) {
                __m512i t = _mm512_ternarylogic_epi64(_mm512_srli_epi64(r[j], s), r[j + d], m, 0x28);
                r[j + d] = _mm512_xor_si512(r[j + d], t);
                r[j] = _mm512_xor_si512(r[j], _mm512_slli_epi64(t, s));
            }
    }
    const __m512i m4 = _mm512_set1_epi64(0x0f0f0f0f0f0f0f0fll), m2 = _mm512_set1_epi64(0x3333333333333333ll),
                  m1 = _mm512_set1_epi64(0x5555555555555555ll);
    for (int j = 0; j < 8; j++) {
        __m512i x = r[j];
        x = swap_rows_lanes(x, _mm512_shuffle_i64x2(x, x, 0x4e), 4, 0xf0, m4);
        x = swap_rows_lanes(x, _mm512_permutex_epi64(x, 0x4e), 2, 0xcc, m2);
        x = swap_rows_lanes(x, _mm512_permutex_epi64(x, 0xb1), 1, 0xaa, m1);
        _mm512_storeu_si512(a + 8 * j, x);
    }
}

/* 16 pixels at a time with AVX-512F compress (any AVX-512 CPU). */
int mt_row_list_avx512f(uint32_t *ent, int *blk, const uint8_t *px, int C)
{
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    _Static_assert(MT_SP_CHUNK % 16 == 0, "chunks are whole vectors");
    int n = 0;
    for (int c = 0; c < C; c += 16) {
        int w = C - c < 16 ? C - c : 16;
        __m512i x = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(LMASK(w), px + c));
        __mmask16 k = _mm512_test_epi32_mask(x, x);
        __m512i e = _mm512_or_si512(_mm512_add_epi32(iota, _mm512_set1_epi32(c)),
                                    _mm512_slli_epi32(x, MT_SP_COL_BITS));
        _mm512_storeu_si512(ent + n, _mm512_maskz_compress_epi32(k, e));
        n += __builtin_popcount((unsigned)k);
        if ((c + 16) % MT_SP_CHUNK == 0 || c + 16 >= C)
            blk[c / MT_SP_CHUNK] = n;
    }
    return n;
}

/* Entries 16q..16q+15 of a block's compressed columns cv and pixels pv (bytes)
 * at column base c. */
#define VBMI2 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi2")))
static inline VBMI2 __m512i block_entries(__m512i cv, __m512i pv, __m512i c, int q)
{
    __m128i c16 = _mm512_castsi512_si128(cv), p16 = _mm512_castsi512_si128(pv);
    switch (q) {
    case 1: c16 = _mm512_extracti32x4_epi32(cv, 1); p16 = _mm512_extracti32x4_epi32(pv, 1); break;
    case 2: c16 = _mm512_extracti32x4_epi32(cv, 2); p16 = _mm512_extracti32x4_epi32(pv, 2); break;
    case 3: c16 = _mm512_extracti32x4_epi32(cv, 3); p16 = _mm512_extracti32x4_epi32(pv, 3); break;
    default: break;
    }
    return _mm512_or_si512(_mm512_add_epi32(_mm512_cvtepu8_epi32(c16), c),
                           _mm512_slli_epi32(_mm512_cvtepu8_epi32(p16), MT_SP_COL_BITS));
}

/* 64 pixels at a time with VBMI2's byte compress (Ice Lake, Zen 4 and
 * later): the block's non-zero pixels and their column offsets compressed
 * as bytes, then widened 16 at a time — two vectors always (71 % of MNIST's
 * blocks have 1..32 entries, 29 % none), more only past 32 (3.5 %).  About
 * 35 % faster than 16 at a time on MNIST (45 % of whose 16-pixel groups are
 * all zero).  Writes up to MT_SP_SLACK entries past the count. */
VBMI2 int mt_row_list_avx512vbmi2(uint32_t *ent, int *blk, const uint8_t *px, int C)
{
    const __m512i iota = _mm512_set_epi8(63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46,
                                         45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28,
                                         27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10,
                                         9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    _Static_assert(MT_SP_SLACK >= 32 && MT_SP_CHUNK == 64, "two vectors of slack; a chunk is a block");
    int n = 0;
    for (int c = 0; c < C; c += 64) {
        const int w = C - c < 64 ? C - c : 64;
        __m512i x = _mm512_maskz_loadu_epi8(w == 64 ? ~0ull : (1ull << w) - 1, px + c);
        __mmask64 k = _mm512_test_epi8_mask(x, x);
        const uint64_t m = _cvtmask64_u64(k);
        const int cnt = __builtin_popcountll(m);
        __m512i pv = _mm512_maskz_compress_epi8(k, x), cv = _mm512_maskz_compress_epi8(k, iota);
        __m512i base = _mm512_set1_epi32(c);
        _mm512_storeu_si512(ent + n, block_entries(cv, pv, base, 0));
        _mm512_storeu_si512(ent + n + 16, block_entries(cv, pv, base, 1));
        if (cnt > 32) {
            _mm512_storeu_si512(ent + n + 32, block_entries(cv, pv, base, 2));
            _mm512_storeu_si512(ent + n + 48, block_entries(cv, pv, base, 3));
        }
        n += cnt;
        blk[c / 64] = n;
    }
    return n;
}

int mt_cpu_avx512vbmi2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vbmi2");
}

static int row_list_vec(uint32_t *ent, int *blk, const uint8_t *px, int C)
{
    return mt_cpu_avx512vbmi2() ? mt_row_list_avx512vbmi2(ent, blk, px, C) : mt_row_list_avx512f(ent, blk, px, C);
}

#include "kern_simd.h"
