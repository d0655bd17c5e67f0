/* AVX2+FMA kernels: the vector layer for kern_simd.h, 8 lanes, 6x2-vector
 * GEMM tiles (12 ymm accumulators), vmaskmov for ragged edges.
 * Compiled with -mavx2 -mfma for this object only; mt_kern.c calls it only
 * when the CPU reports both AVX2 and FMA. */
#include <immintrin.h>
#include <stdint.h>

#include "kern_impl.h"

typedef __m256 vf;
#define VW 8
#define MR 6
#define NR 2
#define KC 128
#define KERN_NAME "avx2"
#define KSFX(name) name##_avx2
#define NR_WIDE 3 /* 4 x 3 tiles: 12 accumulators, 3 rows of B and a broadcast */
#define MR_WIDE 4
#define TILE_LIST(X) X(1, 1) X(1, 2) X(2, 1) X(2, 2) X(3, 1) X(3, 2) \
                     X(4, 1) X(4, 2) X(5, 1) X(5, 2) X(6, 1) X(6, 2) \
                     X(1, 3) X(2, 3) X(3, 3) X(4, 3)

static inline __m256i lmask(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#define V_ZERO() _mm256_setzero_ps()
#define V_SET1(x) _mm256_set1_ps(x)
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_STORE(p, v) _mm256_storeu_ps((p), (v))
#define V_LOADN(p, n) _mm256_maskload_ps((p), lmask(n))
#define V_STOREN(p, v, n) _mm256_maskstore_ps((p), lmask(n), (v))
#define V_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define V_LOADN_LO(p, n) V_LOADN(p, n)
#define V_FMA_LO(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define V_ADD(a, b) _mm256_add_ps((a), (b))
#define V_SUB(a, b) _mm256_sub_ps((a), (b))
#define V_MUL(a, b) _mm256_mul_ps((a), (b))
#define V_DIV(a, b) _mm256_div_ps((a), (b))
#define V_MAX(a, b) _mm256_max_ps((a), (b))
#define V_SQRT(a) _mm256_sqrt_ps(a)
#define V_SELGTN(v, m, a, b) _mm256_blendv_ps((a), (b), _mm256_or_ps(_mm256_cmp_ps((v), (m), _CMP_GT_OQ), \
                                                                _mm256_cmp_ps((v), (v), _CMP_UNORD_Q)))
#define V_MASKLE0(v, m) _mm256_and_ps(_mm256_cmp_ps((m), _mm256_setzero_ps(), _CMP_GT_OQ), (v))
#define V_LOADU8(p) _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(p))))

static inline uint64_t nzmask(const uint8_t *p, int n)
{
    uint64_t m = 0;
    int j = 0;
    for (; j + 32 <= n; j += 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(p + j));
        uint32_t z = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_setzero_si256()));
        m |= (uint64_t)(~z) << j;
    }
    for (; j < n; j++)
        m |= (uint64_t)(p[j] != 0) << j;
    return m;
}

static inline __attribute__((always_inline)) void vtranspose(vf r[8])
{
    __m256 t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int g = 0; g < 2; g++) {
        u[4 * g + 0] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[4 * g + 1] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int m = 0; m < 4; m++) {
        r[m] = _mm256_permute2f128_ps(u[m], u[4 + m], 0x20);
        r[4 + m] = _mm256_permute2f128_ps(u[m], u[4 + m], 0x31);
    }
}

static inline vf v_exp(vf x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
    vf fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                            _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
    vf y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

#include "kern_simd.h"
