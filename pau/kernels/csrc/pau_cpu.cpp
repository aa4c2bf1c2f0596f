// Fused CPU kernels for the Padé Activation Unit.
//
// The input is viewed as R rows of L contiguous elements; row r uses coefficient
// set r % G (G = 1: a single row). Each row is cut into segments of SEGMENT
// elements, the unit of parallel work; each segment is processed in tiles of
// TILE elements so the Horner loops over coefficients run innermost over a tile
// and vectorise for any orders m, n.
//
// Forward: one pass (read x, write y). Backward: one pass computing grad_x and the
// per-segment partial sums of the coefficient gradients together; the partials
// are then reduced in a fixed order, so results do not depend on thread timing.
//
// sign(0) := +1 in the derivative of |z| (documented library rule).
// RPAU noise: z(seed, i, k) from the lowbias32 hash, as in pau/math/noise.py.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace {

constexpr int TILE = 256;
constexpr int64_t SEGMENT = 16384;

enum Form { FORM_A = 0, FORM_B = 1, FORM_C = 2, FORM_N = 3 };

inline uint32_t lowbias32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

template <typename T>
inline T sgn(T z) {
  return z >= T(0) ? T(1) : T(-1);
}

struct Noise {
  double alpha;
  uint32_t seed_lo, seed_hi;
};

// Effective coefficients of one tile: ce[k * TILE + i] = c_k + alpha * z_ik * c_k.
template <typename T>
void noisy_coefficients(const T* a, int m1, const T* b, int nb, int64_t first_index, int cnt,
                        const Noise& nz, T* ce) {
  uint32_t e[TILE];
#pragma omp simd
  for (int i = 0; i < cnt; ++i) {
    const uint64_t idx = static_cast<uint64_t>(first_index + i);
    const uint32_t lo = static_cast<uint32_t>(idx), hi = static_cast<uint32_t>(idx >> 32);
    e[i] = lowbias32(lowbias32(lo ^ nz.seed_lo) ^ (hi + nz.seed_hi));
  }
  const T alpha = static_cast<T>(nz.alpha);
  for (int k = 0; k < m1 + nb; ++k) {
    const T c = k < m1 ? a[k] : b[k - m1];
    const uint32_t salt = static_cast<uint32_t>(k + 1) * 0x9E3779B9U;
    T* row = ce + static_cast<int64_t>(k) * TILE;
#pragma omp simd
    for (int i = 0; i < cnt; ++i) {
      const uint32_t u = lowbias32(e[i] ^ salt);
      const T z = static_cast<T>(static_cast<float>(u >> 8) * 0x1p-23f - 1.0f);
      row[i] = c + (alpha * z) * c;
    }
  }
}

// Coefficient k for element i of the tile: a scalar broadcast, or the noisy value.
template <typename T, bool NOISE>
struct Coef {
  const T* c;
  const T* ce;
  inline T operator()(int k, int i) const { return NOISE ? ce[static_cast<int64_t>(k) * TILE + i] : c[k]; }
};

// P(x) and, optionally, P'(x) over a tile.
template <typename T, bool NOISE, bool DERIV>
inline void numerator(const T* x, int cnt, int m1, Coef<T, NOISE> a, T* p, T* dp) {
#pragma omp simd
  for (int i = 0; i < cnt; ++i) p[i] = a(m1 - 1, i);
  for (int j = m1 - 2; j >= 0; --j) {
#pragma omp simd
    for (int i = 0; i < cnt; ++i) p[i] = p[i] * x[i] + a(j, i);
  }
  if (DERIV) {
#pragma omp simd
    for (int i = 0; i < cnt; ++i) dp[i] = m1 > 1 ? T(m1 - 1) * a(m1 - 1, i) : T(0);
    for (int j = m1 - 2; j >= 1; --j) {
#pragma omp simd
      for (int i = 0; i < cnt; ++i) dp[i] = dp[i] * x[i] + T(j) * a(j, i);
    }
  }
}

// Q(x), optionally dQ/dx, and (B, C) the sign of the inner polynomial.
template <typename T, int FORM, bool NOISE, bool DERIV>
inline void denominator(const T* x, int cnt, int nb, Coef<T, NOISE> b, T* q, T* dq, T* s_sign) {
  if (FORM == FORM_A) {
    // Q = 1 + sum_{k=1..n} |b_k| |x|^k, b_k stored at index k-1.
#pragma omp simd
    for (int i = 0; i < cnt; ++i) {
      const T ax = std::abs(x[i]);
      T acc = nb > 0 ? std::abs(b(nb - 1, i)) : T(0);
      for (int k = nb - 2; k >= 0; --k) acc = acc * ax + std::abs(b(k, i));
      q[i] = T(1) + acc * ax;
      if (DERIV) {
        T d = nb > 0 ? T(nb) * std::abs(b(nb - 1, i)) : T(0);
        for (int k = nb - 2; k >= 0; --k) d = d * ax + T(k + 1) * std::abs(b(k, i));
        dq[i] = sgn(x[i]) * d;
      }
    }
  } else {
    // s = inner polynomial: B, N: sum_{k=1..n} b_k x^k; C: sum_{k=0..n} b_k x^k.
    const int shift = FORM == FORM_C ? 0 : 1;  // power of x carried by stored index 0
#pragma omp simd
    for (int i = 0; i < cnt; ++i) {
      const T xi = x[i];
      T acc = nb > 0 ? b(nb - 1, i) : T(0);
      for (int k = nb - 2; k >= 0; --k) acc = acc * xi + b(k, i);
      const T s = shift ? acc * xi : acc;
      T d = T(0);
      if (DERIV) {
        // ds/dx = sum over stored k of (k + shift) b_k x^(k + shift - 1)
        const int top = nb - 1;
        d = (top + shift) > 0 ? T(top + shift) * b(top, i) : T(0);
        for (int k = top - 1; k >= 0; --k) {
          if (k + shift == 0) break;
          d = d * xi + T(k + shift) * b(k, i);
        }
      }
      if (FORM == FORM_N) {
        q[i] = T(1) + s;
        if (DERIV) dq[i] = d;
      } else {
        const T sg = sgn(s);
        q[i] = (FORM == FORM_C ? T(0.1) : T(1)) + std::abs(s);
        if (DERIV) {
          dq[i] = sg * d;
          s_sign[i] = sg;
        }
      }
    }
  }
}

template <typename T, int FORM, bool NOISE>
void forward_span(const T* x, T* y, int64_t len, int64_t first_index, const T* a, int m1, const T* b,
                  int nb, const Noise& nz) {
  alignas(64) T p[TILE];
  alignas(64) T q[TILE];
  std::vector<T> ce(NOISE ? static_cast<size_t>(m1 + nb) * TILE : 0);
  for (int64_t t0 = 0; t0 < len; t0 += TILE) {
    const int cnt = static_cast<int>(std::min<int64_t>(TILE, len - t0));
    const T* xt = x + t0;
    if (NOISE) noisy_coefficients(a, m1, b, nb, first_index + t0, cnt, nz, ce.data());
    Coef<T, NOISE> ca{a, ce.data()};
    Coef<T, NOISE> cb{b, ce.data() + static_cast<int64_t>(m1) * TILE};
    numerator<T, NOISE, false>(xt, cnt, m1, ca, p, nullptr);
    denominator<T, FORM, NOISE, false>(xt, cnt, nb, cb, q, nullptr, nullptr);
    T* yt = y + t0;
#pragma omp simd
    for (int i = 0; i < cnt; ++i) yt[i] = p[i] / q[i];
  }
}

// Sum over the tile of t[i] * x[i]^k for k = 0..count-1 (starting power pw0), added to acc.
template <typename T>
inline void power_sums(const T* t, const T* base, const T* start, int cnt, int count, double* acc) {
  alignas(64) T pw[TILE];
#pragma omp simd
  for (int i = 0; i < cnt; ++i) pw[i] = start ? start[i] : T(1);
  for (int k = 0; k < count; ++k) {
    T s = T(0);
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < cnt; ++i) {
      s += t[i] * pw[i];
      pw[i] *= base[i];
    }
    acc[k] += static_cast<double>(s);
  }
}

template <typename T, int FORM, bool NOISE>
void backward_span(const T* g, const T* x, T* gx, int64_t len, int64_t first_index, const T* a, int m1,
                   const T* b, int nb, const Noise& nz, double* acc /* m1 + nb */) {
  alignas(64) T p[TILE];
  alignas(64) T dp[TILE];
  alignas(64) T q[TILE];
  alignas(64) T dq[TILE];
  alignas(64) T sg[TILE];
  alignas(64) T w[TILE];
  alignas(64) T v[TILE];
  alignas(64) T ax[TILE];
  std::vector<T> ce(NOISE ? static_cast<size_t>(m1 + nb) * TILE : 0);
  std::vector<T> tb(NOISE ? TILE : 0);
  for (int64_t t0 = 0; t0 < len; t0 += TILE) {
    const int cnt = static_cast<int>(std::min<int64_t>(TILE, len - t0));
    const T* xt = x + t0;
    const T* gt = g + t0;
    if (NOISE) noisy_coefficients(a, m1, b, nb, first_index + t0, cnt, nz, ce.data());
    Coef<T, NOISE> ca{a, ce.data()};
    Coef<T, NOISE> cb{b, ce.data() + static_cast<int64_t>(m1) * TILE};
    numerator<T, NOISE, true>(xt, cnt, m1, ca, p, dp);
    denominator<T, FORM, NOISE, true>(xt, cnt, nb, cb, q, dq, sg);
    T* gxt = gx + t0;
#pragma omp simd
    for (int i = 0; i < cnt; ++i) {
      w[i] = gt[i] / q[i];            // dL/dP
      v[i] = -w[i] * p[i] / q[i];     // dL/dQ
      gxt[i] = w[i] * dp[i] + v[i] * dq[i];
    }
    power_sums<T>(w, xt, nullptr, cnt, m1, acc);
    if (nb == 0) continue;
    double* accb = acc + m1;
    if (FORM == FORM_A) {
      // dQ/db_k = sign(b_k) |x|^k: sum v |x|^k, sign applied per element under noise.
#pragma omp simd
      for (int i = 0; i < cnt; ++i) ax[i] = std::abs(xt[i]);
      if (!NOISE) {
        double local[64];
        std::vector<double> big(nb > 64 ? nb : 0);
        double* l = nb > 64 ? big.data() : local;
        std::fill(l, l + nb, 0.0);
        power_sums<T>(v, ax, ax, cnt, nb, l);
        for (int k = 0; k < nb; ++k) accb[k] += static_cast<double>(sgn(b[k])) * l[k];
      } else {
        alignas(64) T pw[TILE];
#pragma omp simd
        for (int i = 0; i < cnt; ++i) pw[i] = ax[i];
        for (int k = 0; k < nb; ++k) {
          T s = T(0);
#pragma omp simd reduction(+ : s)
          for (int i = 0; i < cnt; ++i) {
            s += v[i] * sgn(cb(k, i)) * pw[i];
            pw[i] *= ax[i];
          }
          accb[k] += static_cast<double>(s);
        }
      }
    } else {
      // dQ/db_k = sign(s) x^(k+shift) (B, C) or x^(k+1) (N).
      if (FORM != FORM_N) {
#pragma omp simd
        for (int i = 0; i < cnt; ++i) v[i] *= sg[i];
      }
      power_sums<T>(v, xt, FORM == FORM_C ? nullptr : xt, cnt, nb, accb);
    }
  }
}

struct Layout {
  int64_t rows, row_len, groups, segs;
};

inline Layout layout(int64_t rows, int64_t row_len, int64_t groups) {
  const int64_t segs = row_len > 0 ? (row_len + SEGMENT - 1) / SEGMENT : 0;
  return {rows, row_len, groups, segs};
}

template <typename T, int FORM, bool NOISE>
void forward_all(const T* x, T* y, Layout lo, const T* a, int m1, const T* b, int nb, const Noise& nz,
                 int nthreads) {
  const int64_t work = lo.rows * lo.segs;
#pragma omp parallel for schedule(static) num_threads(nthreads) if (work > 1)
  for (int64_t w = 0; w < work; ++w) {
    const int64_t r = w / lo.segs, s = w % lo.segs;
    const int64_t g = r % lo.groups;
    const int64_t start = r * lo.row_len + s * SEGMENT;
    const int64_t len = std::min(SEGMENT, lo.row_len - s * SEGMENT);
    forward_span<T, FORM, NOISE>(x + start, y + start, len, start, a + g * m1, m1, b + g * nb, nb, nz);
  }
}

template <typename T, int FORM, bool NOISE>
void backward_all(const T* gy, const T* x, T* gx, Layout lo, const T* a, int m1, const T* b, int nb,
                  const Noise& nz, double* coef_grad, double* partial, int nthreads) {
  const int64_t work = lo.rows * lo.segs;
  const int nc = m1 + nb;
#pragma omp parallel for schedule(static) num_threads(nthreads) if (work > 1)
  for (int64_t w = 0; w < work; ++w) {
    const int64_t r = w / lo.segs, s = w % lo.segs;
    const int64_t g = r % lo.groups;
    const int64_t start = r * lo.row_len + s * SEGMENT;
    const int64_t len = std::min(SEGMENT, lo.row_len - s * SEGMENT);
    double* acc = partial + w * nc;
    std::fill(acc, acc + nc, 0.0);
    backward_span<T, FORM, NOISE>(gy + start, x + start, gx + start, len, start, a + g * m1, m1, b + g * nb,
                                  nb, nz, acc);
  }
  // Fixed-order reduction of the partial sums: bitwise reproducible.
  std::fill(coef_grad, coef_grad + lo.groups * nc, 0.0);
  for (int64_t w = 0; w < work; ++w) {
    const int64_t g = (w / lo.segs) % lo.groups;
    for (int k = 0; k < nc; ++k) coef_grad[g * nc + k] += partial[w * nc + k];
  }
}

template <typename T, bool NOISE>
void forward_dispatch(int form, const T* x, T* y, Layout lo, const T* a, int m1, const T* b, int nb,
                      const Noise& nz, int nt) {
  switch (form) {
    case FORM_A: return forward_all<T, FORM_A, NOISE>(x, y, lo, a, m1, b, nb, nz, nt);
    case FORM_B: return forward_all<T, FORM_B, NOISE>(x, y, lo, a, m1, b, nb, nz, nt);
    case FORM_C: return forward_all<T, FORM_C, NOISE>(x, y, lo, a, m1, b, nb, nz, nt);
    default: return forward_all<T, FORM_N, NOISE>(x, y, lo, a, m1, b, nb, nz, nt);
  }
}

template <typename T, bool NOISE>
void backward_dispatch(int form, const T* gy, const T* x, T* gx, Layout lo, const T* a, int m1, const T* b,
                       int nb, const Noise& nz, double* cg, double* part, int nt) {
  switch (form) {
    case FORM_A: return backward_all<T, FORM_A, NOISE>(gy, x, gx, lo, a, m1, b, nb, nz, cg, part, nt);
    case FORM_B: return backward_all<T, FORM_B, NOISE>(gy, x, gx, lo, a, m1, b, nb, nz, cg, part, nt);
    case FORM_C: return backward_all<T, FORM_C, NOISE>(gy, x, gx, lo, a, m1, b, nb, nz, cg, part, nt);
    default: return backward_all<T, FORM_N, NOISE>(gy, x, gx, lo, a, m1, b, nb, nz, cg, part, nt);
  }
}

inline Noise make_noise(double alpha, uint64_t seed) {
  return {alpha, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
}

}  // namespace

#define PAU_EXPORT(T, SUFFIX)                                                                              \
  extern "C" void pau_forward_##SUFFIX(const T* x, T* y, int64_t rows, int64_t row_len, int64_t groups,  \
                                       const T* a, int64_t m1, const T* b, int64_t nb, int64_t form,       \
                                       double alpha, uint64_t seed, int64_t nthreads) {                    \
    const Layout lo = layout(rows, row_len, groups);                                                      \
    const Noise nz = make_noise(alpha, seed);                                                             \
    if (alpha != 0.0)                                                                                     \
      forward_dispatch<T, true>(form, x, y, lo, a, m1, b, nb, nz, nthreads);                              \
    else                                                                                                  \
      forward_dispatch<T, false>(form, x, y, lo, a, m1, b, nb, nz, nthreads);                             \
  }                                                                                                       \
  extern "C" int64_t pau_partials_##SUFFIX(int64_t rows, int64_t row_len) {                               \
    return rows * layout(rows, row_len, 1).segs;                                                          \
  }                                                                                                       \
  extern "C" void pau_backward_##SUFFIX(const T* gy, const T* x, T* gx, int64_t rows, int64_t row_len,    \
                                        int64_t groups, const T* a, int64_t m1, const T* b, int64_t nb,    \
                                        int64_t form, double alpha, uint64_t seed, double* coef_grad,      \
                                        double* partial, int64_t nthreads) {                               \
    const Layout lo = layout(rows, row_len, groups);                                                      \
    const Noise nz = make_noise(alpha, seed);                                                             \
    if (alpha != 0.0)                                                                                     \
      backward_dispatch<T, true>(form, gy, x, gx, lo, a, m1, b, nb, nz, coef_grad, partial, nthreads);    \
    else                                                                                                  \
      backward_dispatch<T, false>(form, gy, x, gx, lo, a, m1, b, nb, nz, coef_grad, partial, nthreads);   \
  }

PAU_EXPORT(float, f32)
PAU_EXPORT(double, f64)
