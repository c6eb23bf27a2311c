/*
 * Fused optimizer kernels and a STREAM-style triad, timed in C: the practical
 * ceiling and the bandwidth limit the JavaScript/WebAssembly paths are compared to.
 *
 * Built by the benchmark run itself (gcc -O3 -march=native), single thread.
 *
 * Usage:
 *   optim_bench <kernel> <float32|float64> <elements> <tensors> <warmup_ms> <target_ms> <min_samples> <max_samples>
 *     kernel: adam, adamw, sgd_momentum, lion, adagrad, rmsprop, triad, stream_r3w2, stream_r4w3
 *     (stream_r3w2 / stream_r4w3 read 3 / 4 arrays and write 2 / 3 of them in place, with
 *     one add per element: the optimizers' memory traffic without their arithmetic)
 *     For `triad`, <elements> is the length of each of the three float64 arrays
 *     (a[i] = b[i] + s * c[i]) and <tensors> must be 1.
 *
 * Prints one JSON object: {"kernel":..., "stepsPerSample":k, "samplesNs":[...]}
 * where every sample is the wall time of k consecutive steps (k chosen so that a
 * sample lasts at least ~50 us, which keeps clock overhead out of tiny steps).
 *
 * The scalar coefficients mirror @opt/core's: computed in double per step, the
 * element loop in the parameter's type, one pass per tensor, in place.
 */
#define _POSIX_C_SOURCE 200112L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Hyper-parameters: PyTorch defaults, except SGD (lr 1e-2, momentum 0.9) so that momentum is on. */
#define ADAM_LR 1e-3
#define ADAM_B1 0.9
#define ADAM_B2 0.999
#define ADAM_EPS 1e-8
#define ADAMW_WD 1e-2
#define SGD_LR 1e-2
#define SGD_MOMENTUM 0.9
#define LION_LR 1e-4
#define LION_B1 0.9
#define LION_B2 0.99
#define ADAGRAD_LR 1e-2
#define ADAGRAD_EPS 1e-10
#define RMS_LR 1e-2
#define RMS_ALPHA 0.99
#define RMS_EPS 1e-8

#define DEFINE_KERNELS(T, SQRT, SUF)                                                                        \
  static void adam_##SUF(T *restrict p, const T *restrict g, T *restrict m, T *restrict v, long n,         \
                         double step_size, double sqrt_bc2, double decay) {                                 \
    const T b1 = (T)ADAM_B1, c1 = (T)(1.0 - ADAM_B1), b2 = (T)ADAM_B2, c2 = (T)(1.0 - ADAM_B2);           \
    const T ss = (T)step_size, inv = (T)(1.0 / sqrt_bc2), eps = (T)ADAM_EPS, dec = (T)decay;               \
    for (long i = 0; i < n; i++) {                                                                          \
      T gi = g[i];                                                                                          \
      T mi = b1 * m[i] + c1 * gi;                                                                           \
      T vi = b2 * v[i] + c2 * gi * gi;                                                                      \
      m[i] = mi;                                                                                            \
      v[i] = vi;                                                                                            \
      p[i] = p[i] * dec - ss * mi / (SQRT(vi) * inv + eps);                                                 \
    }                                                                                                       \
  }                                                                                                         \
  static void sgd_##SUF(T *restrict p, const T *restrict g, T *restrict b, long n) {                       \
    const T mu = (T)SGD_MOMENTUM, lr = (T)SGD_LR;                                                           \
    for (long i = 0; i < n; i++) {                                                                          \
      T bi = mu * b[i] + g[i];                                                                              \
      b[i] = bi;                                                                                            \
      p[i] -= lr * bi;                                                                                      \
    }                                                                                                       \
  }                                                                                                         \
  static void lion_##SUF(T *restrict p, const T *restrict g, T *restrict m, long n) {                      \
    const T b1 = (T)LION_B1, c1 = (T)(1.0 - LION_B1), b2 = (T)LION_B2, c2 = (T)(1.0 - LION_B2);           \
    const T lr = (T)LION_LR;                                                                                \
    for (long i = 0; i < n; i++) {                                                                          \
      T gi = g[i], mi = m[i];                                                                               \
      T c = b1 * mi + c1 * gi;                                                                              \
      T s = (T)((c > 0) - (c < 0));                                                                         \
      p[i] -= lr * s;                                                                                       \
      m[i] = b2 * mi + c2 * gi;                                                                             \
    }                                                                                                       \
  }                                                                                                         \
  static void adagrad_##SUF(T *restrict p, const T *restrict g, T *restrict s, long n, double clr) {       \
    const T lr = (T)clr, eps = (T)ADAGRAD_EPS;                                                              \
    for (long i = 0; i < n; i++) {                                                                          \
      T gi = g[i];                                                                                          \
      T si = s[i] + gi * gi;                                                                                \
      s[i] = si;                                                                                            \
      p[i] -= lr * gi / (SQRT(si) + eps);                                                                   \
    }                                                                                                       \
  }                                                                                                         \
  static void rmsprop_##SUF(T *restrict p, const T *restrict g, T *restrict sq, long n) {                  \
    const T a = (T)RMS_ALPHA, ca = (T)(1.0 - RMS_ALPHA), lr = (T)RMS_LR, eps = (T)RMS_EPS;                 \
    for (long i = 0; i < n; i++) {                                                                          \
      T gi = g[i];                                                                                          \
      T si = a * sq[i] + ca * gi * gi;                                                                      \
      sq[i] = si;                                                                                           \
      p[i] -= lr * gi / (SQRT(si) + eps);                                                                   \
    }                                                                                                       \
  }                                                                                                         \
  /* Memory-only kernels with an optimizer's access pattern (3 reads/2 in-place writes, 4 reads/3 writes): */ \
  /* the bandwidth limit for that pattern, one add per stream so the arithmetic costs nothing. */            \
  static void r3w2_##SUF(T *restrict a, const T *restrict b, T *restrict c, long n) {                      \
    for (long i = 0; i < n; i++) {                                                                          \
      T x = a[i], y = b[i], z = c[i];                                                                       \
      a[i] = x + y;                                                                                         \
      c[i] = z + y;                                                                                         \
    }                                                                                                       \
  }                                                                                                         \
  static void r4w3_##SUF(T *restrict a, const T *restrict b, T *restrict c, T *restrict d, long n) {       \
    for (long i = 0; i < n; i++) {                                                                          \
      T x = a[i], y = b[i], z = c[i], w = d[i];                                                             \
      a[i] = x + y;                                                                                         \
      c[i] = z + y;                                                                                         \
      d[i] = w + y;                                                                                         \
    }                                                                                                       \
  }

DEFINE_KERNELS(float, sqrtf, f32)
DEFINE_KERNELS(double, sqrt, f64)

enum kernel { K_ADAM, K_ADAMW, K_SGD, K_LION, K_ADAGRAD, K_RMSPROP, K_TRIAD, K_R3W2, K_R4W3 };

typedef struct {
  enum kernel kernel;
  int f64;
  long n;       /* elements per tensor */
  long tensors; /* number of tensors */
  void **p, **g, **s1, **s2;
  long step;
} bench_t;

static volatile double sink;

static void *alloc_filled(long n, int f64, double base, double scale) {
  size_t bytes = (size_t)n * (f64 ? 8 : 4);
  void *ptr = NULL;
  if (posix_memalign(&ptr, 64, bytes ? bytes : 64) != 0) {
    fprintf(stderr, "out of memory\n");
    exit(2);
  }
  /* A cheap deterministic pattern in [-scale, scale]: no denormals, no zeros in g. */
  uint32_t x = 12345u;
  for (long i = 0; i < n; i++) {
    x = x * 1664525u + 1013904223u;
    double r = base + scale * (((double)(x >> 8) / 16777216.0) * 2.0 - 1.0);
    if (f64) ((double *)ptr)[i] = r;
    else ((float *)ptr)[i] = (float)r;
  }
  return ptr;
}

static void run_step(bench_t *b) {
  long t = ++b->step;
  double step_size = ADAM_LR / (1.0 - pow(ADAM_B1, (double)t));
  double sqrt_bc2 = sqrt(1.0 - pow(ADAM_B2, (double)t));
  for (long k = 0; k < b->tensors; k++) {
    void *p = b->p[k], *g = b->g[k], *s1 = b->s1[k], *s2 = b->s2[k];
    long n = b->n;
    switch (b->kernel) {
      case K_ADAM:
        if (b->f64) adam_f64(p, g, s1, s2, n, step_size, sqrt_bc2, 1.0);
        else adam_f32(p, g, s1, s2, n, step_size, sqrt_bc2, 1.0);
        break;
      case K_ADAMW:
        if (b->f64) adam_f64(p, g, s1, s2, n, step_size, sqrt_bc2, 1.0 - ADAM_LR * ADAMW_WD);
        else adam_f32(p, g, s1, s2, n, step_size, sqrt_bc2, 1.0 - ADAM_LR * ADAMW_WD);
        break;
      case K_SGD:
        if (b->f64) sgd_f64(p, g, s1, n);
        else sgd_f32(p, g, s1, n);
        break;
      case K_LION:
        if (b->f64) lion_f64(p, g, s1, n);
        else lion_f32(p, g, s1, n);
        break;
      case K_ADAGRAD:
        if (b->f64) adagrad_f64(p, g, s1, n, ADAGRAD_LR);
        else adagrad_f32(p, g, s1, n, ADAGRAD_LR);
        break;
      case K_RMSPROP:
        if (b->f64) rmsprop_f64(p, g, s1, n);
        else rmsprop_f32(p, g, s1, n);
        break;
      case K_R3W2:
        if (b->f64) r3w2_f64(p, g, s1, n);
        else r3w2_f32(p, g, s1, n);
        break;
      case K_R4W3:
        if (b->f64) r4w3_f64(p, g, s1, s2, n);
        else r4w3_f32(p, g, s1, s2, n);
        break;
      case K_TRIAD: {
        double *a = p;
        const double *restrict bb = g, *restrict c = s1;
        const double s = 3.0;
        for (long i = 0; i < n; i++) a[i] = bb[i] + s * c[i];
        break;
      }
    }
  }
  /* Keep the compiler from treating the updates as dead stores. */
  sink = b->f64 || b->kernel == K_TRIAD ? ((double *)b->p[0])[0] : ((float *)b->p[0])[0];
}

static int parse_kernel(const char *name, enum kernel *out) {
  static const struct { const char *name; enum kernel k; } table[] = {
      {"adam", K_ADAM}, {"adamw", K_ADAMW}, {"sgd_momentum", K_SGD}, {"lion", K_LION},
      {"adagrad", K_ADAGRAD}, {"rmsprop", K_RMSPROP}, {"triad", K_TRIAD},
      {"stream_r3w2", K_R3W2}, {"stream_r4w3", K_R4W3},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    if (strcmp(name, table[i].name) == 0) {
      *out = table[i].k;
      return 1;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 9) {
    fprintf(stderr, "usage: %s <kernel> <float32|float64> <elements> <tensors> <warmup_ms> <target_ms> <min_samples> <max_samples>\n", argv[0]);
    return 1;
  }
  bench_t b;
  memset(&b, 0, sizeof b);
  if (!parse_kernel(argv[1], &b.kernel)) {
    fprintf(stderr, "unknown kernel %s\n", argv[1]);
    return 1;
  }
  b.f64 = strcmp(argv[2], "float64") == 0 || b.kernel == K_TRIAD;
  b.n = atol(argv[3]);
  b.tensors = atol(argv[4]);
  double warmup_ms = atof(argv[5]), target_ms = atof(argv[6]);
  long min_samples = atol(argv[7]), max_samples = atol(argv[8]);
  if (b.n < 1 || b.tensors < 1 || min_samples < 1 || max_samples < min_samples) {
    fprintf(stderr, "bad sizes\n");
    return 1;
  }
  b.p = malloc(sizeof(void *) * (size_t)b.tensors);
  b.g = malloc(sizeof(void *) * (size_t)b.tensors);
  b.s1 = malloc(sizeof(void *) * (size_t)b.tensors);
  b.s2 = malloc(sizeof(void *) * (size_t)b.tensors);
  for (long k = 0; k < b.tensors; k++) {
    b.p[k] = alloc_filled(b.n, b.f64, 0.0, 1.0);
    b.g[k] = alloc_filled(b.n, b.f64, 0.0, 0.1);
    /* Adagrad's accumulator starts at 0 in PyTorch; the other states start at 0 as well. */
    b.s1[k] = alloc_filled(b.n, b.f64, b.kernel == K_TRIAD ? 1.0 : 0.0, b.kernel == K_TRIAD ? 0.5 : 0.0);
    b.s2[k] = alloc_filled(b.n, b.f64, 0.0, 0.0);
  }

  /* Warm-up: at least two steps and at least warmup_ms; also measures one step's cost. */
  double t0 = now_ns();
  long warm = 0;
  do {
    run_step(&b);
    warm++;
  } while (warm < 2 || now_ns() - t0 < warmup_ms * 1e6);
  double per_step = (now_ns() - t0) / (double)warm;

  long k = 1;
  while ((double)k * per_step < 50e3 && k < 1000000) k *= 2;
  long samples = (long)(target_ms * 1e6 / ((double)k * per_step));
  if (samples < min_samples) samples = min_samples;
  if (samples > max_samples) samples = max_samples;

  double *out = malloc(sizeof(double) * (size_t)samples);
  for (long s = 0; s < samples; s++) {
    double a = now_ns();
    for (long i = 0; i < k; i++) run_step(&b);
    out[s] = now_ns() - a;
  }
  printf("{\"kernel\":\"%s\",\"dtype\":\"%s\",\"elements\":%ld,\"tensors\":%ld,\"stepsPerSample\":%ld,\"samplesNs\":[",
         argv[1], b.f64 ? "float64" : "float32", b.n, b.tensors, k);
  for (long s = 0; s < samples; s++) printf("%s%.0f", s ? "," : "", out[s]);
  printf("],\"check\":%g}\n", (double)sink);
  return 0;
}
