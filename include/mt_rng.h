/* mt_rng: a small seeded PRNG (xoshiro256**, seeded by splitmix64) whose whole
 * state is four integers, so a checkpoint can store it and resume exactly.
 * Not cryptographic; not the same stream as PyTorch's. */
#ifndef MT_RNG_H
#define MT_RNG_H

#include <stdint.h>

typedef struct mt_rng {
    uint64_t s[4]; /* xoshiro256** state; never all zero */
} mt_rng;

void mt_rng_seed(mt_rng *r, uint64_t seed);
uint64_t mt_rng_u64(mt_rng *r);
/* Uniform in [0, n), unbiased (Lemire's multiply-shift with rejection). n >= 1. */
uint32_t mt_rng_below(mt_rng *r, uint32_t n);
/* Uniform float in [lo, hi). */
float mt_rng_uniform(mt_rng *r, float lo, float hi);
/* Fisher-Yates shuffle of idx[0..n). */
void mt_rng_shuffle(mt_rng *r, uint32_t *idx, uint32_t n);

#endif
