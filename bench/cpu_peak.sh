#!/usr/bin/env bash
# The arithmetic ceiling of this CPU, to set the encoder's time against: f32 FMA throughput
# (256-bit and 128-bit: equal on CPUs that split 256-bit FMAs, such as AMD Zen 1), 8-bit products
# as AVX2 does them without VNNI (vpmaddubsw + vpmaddwd + vpaddd), and memory read bandwidth.
# One core each, then both for memory. Needs gcc (apt build-essential). Not a test.
#
# Whisper tiny.en's encoder is ~37 GFLOP per 30 s window (conv 1.9 + 4 layers × 8.8), base ~87:
# at the printed f32 peak × cores that is the least time a full encoder pass can take.
set -euo pipefail
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/peak.c" <<'C'
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(void) {
  const long n = 100000000;
  __m256 g[12]; __m256 gb = _mm256_set1_ps(1.0000001f), gc = _mm256_set1_ps(1e-7f);
  for (int i = 0; i < 12; i++) g[i] = _mm256_set1_ps(i);
  double t0 = now();
  for (long r = 0; r < n; r++) for (int i = 0; i < 12; i++) g[i] = _mm256_fmadd_ps(g[i], gb, gc);
  double s = now() - t0; float fs = 0; for (int i = 0; i < 12; i++) fs += _mm256_cvtss_f32(g[i]);
  printf("f32 FMA, 256-bit:  %6.1f GFLOP/s per core\n", n * 12.0 * 16 / s / 1e9);
  __m128 f[12]; __m128 fb = _mm_set1_ps(1.0000001f), fc = _mm_set1_ps(1e-7f);
  for (int i = 0; i < 12; i++) f[i] = _mm_set1_ps(i);
  t0 = now();
  for (long r = 0; r < n; r++) for (int i = 0; i < 12; i++) f[i] = _mm_fmadd_ps(f[i], fb, fc);
  s = now() - t0; for (int i = 0; i < 12; i++) fs += _mm_cvtss_f32(f[i]);
  printf("f32 FMA, 128-bit:  %6.1f GFLOP/s per core\n", n * 12.0 * 8 / s / 1e9);
  __m256i acc[8]; __m256i a = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
  for (int i = 0; i < 8; i++) acc[i] = _mm256_set1_epi32(i);
  t0 = now();
  for (long r = 0; r < n; r++) {
    for (int i = 0; i < 8; i++)
      acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(_mm256_maddubs_epi16(a, _mm256_set1_epi8(i - 4)), ones));
    __asm__ volatile("" : "+x"(a));
  }
  s = now() - t0; int is = 0; for (int i = 0; i < 8; i++) is += _mm256_extract_epi32(acc[i], 0);
  printf("u8 x i8 (AVX2):    %6.1f GOP/s per core (multiply-adds x 2)\n", n * 8.0 * 64 / s / 1e9);
  size_t m = 256u << 20; float *b = aligned_alloc(64, m * 4);
  for (size_t i = 0; i < m; i++) b[i] = (float)(i % 7);
  double best = 1e9; float sum = 0;
  for (int r = 0; r < 3; r++) {
    t0 = now(); __m256 x = _mm256_setzero_ps();
    for (size_t i = 0; i < m; i += 8) x = _mm256_add_ps(x, _mm256_load_ps(b + i));
    s = now() - t0; if (s < best) best = s; sum += _mm256_cvtss_f32(x);
  }
  printf("memory read:       %6.1f GB/s one core\n", m * 4 / best / 1e9);
  return (fs == 1.0f && is == 1 && sum == 1.0f) ? 1 : 0;
}
C
gcc -O3 -mavx2 -mfma -o "$dir/peak" "$dir/peak.c"
echo "$(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
"$dir/peak"
