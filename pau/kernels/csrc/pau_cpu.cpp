// Fused CPU kernels for the Padé Activation Unit.
//
// The input is viewed as R rows of L contiguous elements; row r uses coefficient
// set r % G (G = 1: a single row). Each row is cut into segments of SEGMENT
// elements, the unit of parallel work. Within a segment, elements are processed one
// register vector (64 bytes: 16 floats or 8 doubles) at a time with every
// coefficient loop inside, so all intermediate values stay in registers for any
// orders m, n. GCC/Clang vector extensions lower to AVX-512, AVX2 or SSE alike.
//
// Forward: one pass (read x, write y). Backward: one pass computing grad_x and the
// per-segment partial sums of the coefficient gradients together; the partials are
// then reduced in a fixed order, so results do not depend on the thread count.
//
// sign(0) := +1 in the derivative of |z| (the library's documented rule).
// RPAU noise: z(seed, i, k) from a counter-based hash, as in pau/math/noise.py.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

namespace {

constexpr int64_t SEGMENT = 16384;
constexpr int FLUSH = 16;  // vectors summed in T before adding to the double accumulators

enum Form { FORM_A = 0, FORM_B = 1, FORM_C = 2, FORM_N = 3 };

template <typename T>
struct Vec;
template <>
struct Vec<float> {
  typedef float V __attribute__((vector_size(64)));
  typedef uint32_t U __attribute__((vector_size(64)));
  typedef float F __attribute__((vector_size(64)));  // float lanes matching U
  static constexpr int L = 16;
};
template <>
struct Vec<double> {
  typedef double V __attribute__((vector_size(64)));
  typedef uint32_t U __attribute__((vector_size(32)));
  typedef float F __attribute__((vector_size(32)));
  static constexpr int L = 8;
};

template <typename U>
inline U lowbias32v(U x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

// Per-coefficient mix of the (already well mixed) element hash: one multiply.
template <typename U>
inline U coefficient_mix(U x) {
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

template <typename T>
struct Ops {
  using V = typename Vec<T>::V;
  using U = typename Vec<T>::U;
  static constexpr int L = Vec<T>::L;

  static inline V splat(T s) { return V{} + s; }
  static inline V vabs(V z) { return z < 0 ? -z : z; }
  static inline V vsgn(V z) { return z >= 0 ? splat(T(1)) : splat(T(-1)); }  // sign(0) := +1
  static inline V load(const T* p) {
    V v;
    std::memcpy(&v, p, sizeof(V));
    return v;
  }
  static inline void store(T* p, V v) { std::memcpy(p, &v, sizeof(V)); }
  static inline double hsum(V v) {
    double s = 0;
    for (int i = 0; i < L; ++i) s += static_cast<double>(v[i]);
    return s;
  }
};

struct Noise {
  double alpha;
  uint32_t seed_lo, seed_hi;
};

// Per-call constants of one coefficient set, and the per-vector coefficients under noise.
template <typename T, int FORM, bool NOISE>
struct Coefs {
  using O = Ops<T>;
  using V = typename O::V;
  using U = typename O::U;
  int m1, nb;
  std::vector<V> base;  // broadcast a_0..a_m, b_*; |b_k| for form A without noise
  std::vector<V> cur;   // this vector's coefficients (noisy, or = base)
  std::vector<T> raw;
  const Noise* nz;

  Coefs(const T* a, int m1_, const T* b, int nb_, const Noise* nz_) : m1(m1_), nb(nb_), nz(nz_) {
    raw.assign(a, a + m1);
    raw.insert(raw.end(), b, b + nb);
    for (int k = 0; k < m1 + nb; ++k) {
      T c = raw[k];
      if (FORM == FORM_A && !NOISE && k >= m1) c = c < 0 ? -c : c;
      base.push_back(O::splat(c));
    }
    cur = base;
  }

  // Noisy coefficients c + alpha * z * c for the L elements starting at flat index first.
  inline void draw(int64_t first) {
    if (!NOISE) return;
    const uint64_t f = static_cast<uint64_t>(first);
    const uint32_t lo0 = static_cast<uint32_t>(f), hi0 = static_cast<uint32_t>(f >> 32);
    U lane;
    for (int i = 0; i < O::L; ++i) lane[i] = static_cast<uint32_t>(i);
    const U lo = lane + lo0;
    const U carry = (U)(lo < lo0);  // all ones where the low word wrapped
    const U hi = (U{} + hi0) - carry;
    const U e = lowbias32v<U>(lowbias32v<U>(lo ^ nz->seed_lo) ^ (hi + nz->seed_hi));
    const T alpha = static_cast<T>(nz->alpha);
    for (int k = 0; k < m1 + nb; ++k) {
      const U u = coefficient_mix<U>(e ^ static_cast<uint32_t>((k + 1) * 0x9E3779B9U));
      using F = typename Vec<T>::F;
      const F zf = __builtin_convertvector(u >> 8, F) * 0x1p-23f - 1.0f;
      const V z = __builtin_convertvector(zf, V);
      cur[k] = base[k] + (alpha * z) * base[k];
    }
  }
  inline V a(int j) const { return cur[j]; }
  inline V b(int k) const { return cur[m1 + k]; }
  // |b_k| as Q uses it (precomputed in base without noise).
  inline V babs(int k) const { return (FORM == FORM_A && NOISE) ? O::vabs(cur[m1 + k]) : cur[m1 + k]; }
};

// M1S, NBS: numerator and denominator lengths fixed at compile time (0: read from
// the coefficients at run time). Fixed lengths unroll every loop, which keeps the
// accumulators in registers; the paper's orders get such a specialisation.
template <typename T, int FORM, bool NOISE, bool DERIV, int M1S = 0, int NBS = 0>
struct Eval {
  using O = Ops<T>;
  using V = typename O::V;
  V p, dp, q, dq, sg;

  // Horner for a polynomial and (DERIV) its derivative in one pass:
  // d <- d * z + f; f <- f * z + c_k. The first step is explicit so that no 0 * inf
  // turns an infinite input into NaN.
  template <typename Get>
  static inline void horner(V z, int count, Get coef, V& f, V& d) {
    f = coef(count - 1);
    d = V{};
    if (count < 2) return;
    if (DERIV) d = f;
    f = f * z + coef(count - 2);
    for (int k = count - 3; k >= 0; --k) {
      if (DERIV) d = d * z + f;
      f = f * z + coef(k);
    }
  }

  inline Eval(V x, const Coefs<T, FORM, NOISE>& c) {
    const int m1 = M1S ? M1S : c.m1, nb = NBS ? NBS : c.nb;
    horner(x, m1, [&](int j) { return c.a(j); }, p, dp);
    // Inner polynomial in base: A: sum |b_k| |x|^k; B, N: sum_{k>=1} b_k x^k; C: sum_{k>=0}.
    const V base = FORM == FORM_A ? O::vabs(x) : x;
    V s = V{}, ds = V{};
    if (nb > 0) horner(base, nb, [&](int k) { return c.babs(k); }, s, ds);
    if (FORM != FORM_C) {
      // Stored index 0 carries x^1: s <- s * base, ds <- ds * base + s.
      if (DERIV) ds = nb > 0 ? ds * base + s : V{};
      s = s * base;
    }
    if (FORM == FORM_A || FORM == FORM_N) {
      q = T(1) + s;
    } else {
      q = (FORM == FORM_C ? T(0.1) : T(1)) + O::vabs(s);
      sg = O::vsgn(s);
    }
    if (DERIV) {
      dq = ds;
      if (FORM == FORM_A) dq = dq * O::vsgn(x);  // chain rule through |x|
      if (FORM == FORM_B || FORM == FORM_C) dq = dq * sg;
    }
  }
};

template <typename T, int FORM, bool NOISE, int M1S, int NBS>
void forward_span(const T* x, T* y, int64_t len, int64_t first_index, Coefs<T, FORM, NOISE>& c) {
  using O = Ops<T>;
  constexpr int L = O::L;
  int64_t i = 0;
  for (; i + L <= len; i += L) {
    c.draw(first_index + i);
    Eval<T, FORM, NOISE, false, M1S, NBS> e(O::load(x + i), c);
    O::store(y + i, e.p / e.q);
  }
  if (i < len) {
    T bx[L] = {}, by[L];
    std::memcpy(bx, x + i, (len - i) * sizeof(T));
    c.draw(first_index + i);
    Eval<T, FORM, NOISE, false, M1S, NBS> e(O::load(bx), c);
    O::store(by, e.p / e.q);
    std::memcpy(y + i, by, (len - i) * sizeof(T));
  }
}

template <typename T, int FORM, bool NOISE, int NCS = 0>
struct GradAccumulator {
  using O = Ops<T>;
  using V = typename O::V;
  static constexpr int LOCAL = 24;
  // Vector accumulators live on the stack for common orders: a heap buffer would have
  // to be reloaded after every store to grad_x (vector types alias their element type).
  V local[LOCAL];
  std::vector<V> heap;
  V* vacc;
  double* acc;
  int nc, pending = 0;
  GradAccumulator(int nc_, double* acc_) : heap(nc_ > LOCAL ? nc_ : 0), acc(acc_), nc(nc_) {
    vacc = nc > LOCAL ? heap.data() : local;
    for (int k = 0; k < nc; ++k) vacc[k] = V{};
  }
  inline void flush() {
    for (int k = 0; k < (NCS ? NCS : nc); ++k) {
      acc[k] += O::hsum(vacc[k]);
      vacc[k] = V{};
    }
    pending = 0;
  }
  inline void tick() {
    if (++pending == FLUSH) flush();
  }
};

template <typename T, int FORM, bool NOISE, int M1S, int NBS>
inline typename Ops<T>::V backward_vector(typename Ops<T>::V x, typename Ops<T>::V g,
                                          const Coefs<T, FORM, NOISE>& c,
                                          GradAccumulator<T, FORM, NOISE, M1S + NBS>& ga) {
  using O = Ops<T>;
  using V = typename O::V;
  const int m1 = M1S ? M1S : c.m1, nb = NBS ? NBS : c.nb;
  Eval<T, FORM, NOISE, true, M1S, NBS> e(x, c);
  const V r = T(1) / e.q;
  const V w = g * r;           // dL/dP
  const V v = -(w * e.p) * r;  // dL/dQ
  V pw = O::splat(T(1));
  for (int j = 0; j < m1; ++j) {
    ga.vacc[j] += w * pw;
    pw = pw * x;
  }
  if (FORM == FORM_A) {
    // dQ/db_k = sign(b_k) |x|^k; without noise the sign is applied per segment.
    const V ax = O::vabs(x);
    pw = ax;
    for (int k = 0; k < nb; ++k) {
      ga.vacc[m1 + k] += (NOISE ? v * O::vsgn(c.b(k)) : v) * pw;
      pw = pw * ax;
    }
  } else {
    const V t = FORM == FORM_N ? v : v * e.sg;
    pw = FORM == FORM_C ? O::splat(T(1)) : x;
    for (int k = 0; k < nb; ++k) {
      ga.vacc[m1 + k] += t * pw;
      pw = pw * x;
    }
  }
  ga.tick();
  return w * e.dp + v * e.dq;
}

template <typename T, int FORM, bool NOISE, int M1S, int NBS>
void backward_span(const T* g, const T* x, T* gx, int64_t len, int64_t first_index, Coefs<T, FORM, NOISE>& c,
                   double* acc) {
  using O = Ops<T>;
  constexpr int L = O::L;
  GradAccumulator<T, FORM, NOISE, M1S + NBS> ga(c.m1 + c.nb, acc);
  int64_t i = 0;
  for (; i + L <= len; i += L) {
    c.draw(first_index + i);
    O::store(gx + i, backward_vector<T, FORM, NOISE, M1S, NBS>(O::load(x + i), O::load(g + i), c, ga));
  }
  if (i < len) {
    // Padded lanes carry grad 0, so they add nothing to the coefficient sums.
    T bx[L] = {}, bg[L] = {}, bo[L];
    std::memcpy(bx, x + i, (len - i) * sizeof(T));
    std::memcpy(bg, g + i, (len - i) * sizeof(T));
    c.draw(first_index + i);
    O::store(bo, backward_vector<T, FORM, NOISE, M1S, NBS>(O::load(bx), O::load(bg), c, ga));
    std::memcpy(gx + i, bo, (len - i) * sizeof(T));
  }
  ga.flush();
  if (FORM == FORM_A && !NOISE) {
    for (int k = 0; k < c.nb; ++k) acc[c.m1 + k] *= c.raw[c.m1 + k] >= 0 ? 1.0 : -1.0;
  }
}

struct Layout {
  int64_t rows, row_len, groups, segs;
};

inline Layout layout(int64_t rows, int64_t row_len, int64_t groups) {
  const int64_t segs = row_len > 0 ? (row_len + SEGMENT - 1) / SEGMENT : 0;
  return {rows, row_len, groups, segs};
}

// Runs body(w, start, len, coefs) for every segment w in parallel (static schedule);
// each thread builds a group's coefficient set on first use.
template <typename T, int FORM, bool NOISE, typename Body>
void for_each_segment(Layout lo, const T* a, int m1, const T* b, int nb, const Noise& nz, int nthreads,
                      Body body) {
  const int64_t work = lo.rows * lo.segs;
#pragma omp parallel num_threads(nthreads) if (work > 1)
  {
    std::vector<std::unique_ptr<Coefs<T, FORM, NOISE>>> sets(lo.groups);
#pragma omp for schedule(static)
    for (int64_t w = 0; w < work; ++w) {
      const int64_t r = w / lo.segs, s = w % lo.segs;
      const int64_t g = r % lo.groups;
      if (!sets[g]) sets[g].reset(new Coefs<T, FORM, NOISE>(a + g * m1, m1, b + g * nb, nb, &nz));
      const int64_t start = r * lo.row_len + s * SEGMENT;
      body(w, start, std::min(SEGMENT, lo.row_len - s * SEGMENT), *sets[g]);
    }
  }
}

template <typename T, int FORM, bool NOISE, int M1S, int NBS>
void forward_all(const T* x, T* y, Layout lo, const T* a, int m1, const T* b, int nb, const Noise& nz,
                 int nthreads) {
  for_each_segment<T, FORM, NOISE>(lo, a, m1, b, nb, nz, nthreads,
                                   [&](int64_t, int64_t start, int64_t len, Coefs<T, FORM, NOISE>& c) {
                                     forward_span<T, FORM, NOISE, M1S, NBS>(x + start, y + start, len, start, c);
                                   });
}

template <typename T, int FORM, bool NOISE, int M1S, int NBS>
void backward_all(const T* gy, const T* x, T* gx, Layout lo, const T* a, int m1, const T* b, int nb,
                  const Noise& nz, double* coef_grad, double* partial, int nthreads) {
  const int64_t work = lo.rows * lo.segs;
  const int nc = m1 + nb;
  for_each_segment<T, FORM, NOISE>(
      lo, a, m1, b, nb, nz, nthreads, [&](int64_t w, int64_t start, int64_t len, Coefs<T, FORM, NOISE>& c) {
        double* acc = partial + w * nc;
        std::fill(acc, acc + nc, 0.0);
        backward_span<T, FORM, NOISE, M1S, NBS>(gy + start, x + start, gx + start, len, start, c, acc);
      });
  // Fixed-order reduction of the partial sums: bitwise reproducible.
  std::fill(coef_grad, coef_grad + lo.groups * nc, 0.0);
  for (int64_t w = 0; w < work; ++w) {
    const int64_t g = (w / lo.segs) % lo.groups;
    for (int k = 0; k < nc; ++k) coef_grad[g * nc + k] += partial[w * nc + k];
  }
}

// The paper's orders m = 5, n = 4 (form C: b_0..b_4) run fully unrolled code.
template <typename T, int FORM>
constexpr int paper_nb() {
  return FORM == FORM_C ? 5 : 4;
}

template <typename T, int FORM, bool NOISE>
void forward_orders(const T* x, T* y, Layout lo, const T* a, int m1, const T* b, int nb, const Noise& nz, int nt) {
  if (m1 == 6 && nb == paper_nb<T, FORM>())
    forward_all<T, FORM, NOISE, 6, paper_nb<T, FORM>()>(x, y, lo, a, m1, b, nb, nz, nt);
  else
    forward_all<T, FORM, NOISE, 0, 0>(x, y, lo, a, m1, b, nb, nz, nt);
}

template <typename T, int FORM, bool NOISE>
void backward_orders(const T* gy, const T* x, T* gx, Layout lo, const T* a, int m1, const T* b, int nb,
                     const Noise& nz, double* cg, double* part, int nt) {
  if (m1 == 6 && nb == paper_nb<T, FORM>())
    backward_all<T, FORM, NOISE, 6, paper_nb<T, FORM>()>(gy, x, gx, lo, a, m1, b, nb, nz, cg, part, nt);
  else
    backward_all<T, FORM, NOISE, 0, 0>(gy, x, gx, lo, a, m1, b, nb, nz, cg, part, nt);
}

template <typename T, bool NOISE>
void forward_dispatch(int form, const T* x, T* y, Layout lo, const T* a, int m1, const T* b, int nb,
                      const Noise& nz, int nt) {
  switch (form) {
    case FORM_A: return forward_orders<T, FORM_A, NOISE>(x, y, lo, a, m1, b, nb, nz, nt);
    case FORM_B: return forward_orders<T, FORM_B, NOISE>(x, y, lo, a, m1, b, nb, nz, nt);
    case FORM_C: return forward_orders<T, FORM_C, NOISE>(x, y, lo, a, m1, b, nb, nz, nt);
    default: return forward_orders<T, FORM_N, NOISE>(x, y, lo, a, m1, b, nb, nz, nt);
  }
}

template <typename T, bool NOISE>
void backward_dispatch(int form, const T* gy, const T* x, T* gx, Layout lo, const T* a, int m1, const T* b,
                       int nb, const Noise& nz, double* cg, double* part, int nt) {
  switch (form) {
    case FORM_A: return backward_orders<T, FORM_A, NOISE>(gy, x, gx, lo, a, m1, b, nb, nz, cg, part, nt);
    case FORM_B: return backward_orders<T, FORM_B, NOISE>(gy, x, gx, lo, a, m1, b, nb, nz, cg, part, nt);
    case FORM_C: return backward_orders<T, FORM_C, NOISE>(gy, x, gx, lo, a, m1, b, nb, nz, cg, part, nt);
    default: return backward_orders<T, FORM_N, NOISE>(gy, x, gx, lo, a, m1, b, nb, nz, cg, part, nt);
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
