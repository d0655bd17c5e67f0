#!/usr/bin/env bash
# Cross-builds the kernel library for aarch64 and runs tests/test_kern.c (the
# same source as the native test, with tests/cross/cmocka.h standing in for
# cmocka) under qemu-user.  Needs Debian's gcc-aarch64-linux-gnu and qemu-user:
#     bash tests/cross/run_neon.sh
# Exits 0 when the tests pass, 1 on a failure, 77 when the tools are missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
CC=${CROSS_CC:-aarch64-linux-gnu-gcc}
QEMU=${QEMU:-qemu-aarch64}
for t in "$CC" "$QEMU"; do
    command -v "$t" >/dev/null || { echo "skipped: $t not installed"; exit 77; }
done
out=build/cross-aarch64
mkdir -p "$out"
flags="-std=c11 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla -Werror -O2 -g -D_POSIX_C_SOURCE=200809L"
$CC $flags -Itests/cross -Iinclude -static -o "$out/test_kern" tests/test_kern.c \
    src/mt_err.c src/mt_kern.c src/kern/kern_ref.c src/kern/kern_neon.c -lm
echo "built $out/test_kern ($(file -b "$out/test_kern" | cut -d, -f1-2))"
"$QEMU" "$out/test_kern"
