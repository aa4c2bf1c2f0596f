// Fused CPU kernels for the Padé Activation Unit.
//
// The input is viewed as R rows of L contiguous elements; row r uses coefficient
// set r % G (G = 1: a single row). Each row is cut into segments of SEGMENT
// elements, the unit of parallel work. Within a segment, elements are processed one
// register vector (64 bytes: 16 floats or 8 doubles) at a time with every
// coefficient loop inside, so all intermediate values stay in registers for any
// orders m, n. GCC/Clang vector extensions lower to AVX-512, AVX2 or SSE alike.
//
// Storage: float32 and float64 are computed in themselves; bfloat16 and float16
// are read and written by the kernel (16 lanes widened to float32 in registers,
// rounded to nearest even on the way out), so no conversion pass runs around it.
//
// Forward: one pass (read x, write y). Backward: one pass computing grad_x and the
// per-segment partial sums of the coefficient gradients together; the partials are
// then reduced in a fixed order, so results do not depend on the thread count.
//
// Far from the origin (|x| > FAR) P and Q are evaluated in u = 1/x, as in
// pau/math/reference.py, so nothing overflows before the value does. A vector with
// no such lane (the common case: one compare and a mask test) runs the direct form
// only; lanes beyond FAR are masked to 0 there and evaluated one by one.
//
// sign(0) := +1 in the derivative of |z| (the library's documented rule).
// RPAU noise: z(seed, i, k) from a counter-based hash, as in pau/math/noise.py.
//
// Vector instructions per 16 elements in the hot loops (float32, form A, the paper's
// orders m = 5, n = 4; counted with objdump on the shortest path around each inner
// loop, AVX-512, GCC 12 -O3 -march=native; "ALU" excludes loads, stores and
// register moves):
//
//   loop            before this pass                 now
//   PAU forward     21 (5 loads/stores, 8 memory     23 (3 loads/stores; ~16 ALU)
//                   operands: coefficients reloaded)
//   PAU backward    60 (7 loads/stores, 8 memory     62 (7 loads/stores, 2 memory operands;
//                   operands)                        ~46 ALU: 28 FMA, 9 mul)
//   RPAU forward    131 + 2 Horner calls (44)        83 (7 vpmulld, 10 cvt, 21 FMA)
//   RPAU backward   167 + 2 Horner calls (69)        116 (7 vpmulld, 10 cvt, 38 FMA)
//
// Before, Eval::horner was not inlined (called per vector, its operands through
// memory), the draws were a full lowbias32 per word (12 vpmulld per vector) and the
// noisy coefficients were stored every vector for the rare lanes beyond FAR. Now the
// noise is 45 instructions per vector and pass (Coefs::draw_into), the far lanes draw
// again (redraw_lane), clean coefficients of fixed orders sit in registers, the
// powers x^j are shared by the numerator and denominator sums, sign(z) * v is a
// compare and a masked xor (Ops::mulsgn), dL/dQ enters as multiply-subtracts, and
// segments are scheduled dynamically. What remains is arithmetic: the clean backward
// is P, P', Q, Q' (17), 1/Q (3), the ten coefficient sums with their powers (15),
// grad_x (2).
//
// Memory: with that much arithmetic per vector the loops cannot hide memory latency
// by themselves (see PREFETCH_BYTES); each loop adds one prefetch per stream and
// vector (2 in the forward, 3 in the backward), and each thread takes long runs of
// consecutive segments (segments_per_take).

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <memory>
#include <vector>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace {

// The per-vector work must inline into the span loops: as calls, vectors would
// travel through memory.
#define PAU_INLINE inline __attribute__((always_inline))

constexpr int64_t SEGMENT = 16384;
constexpr int FLUSH = 64;  // vectors summed in T before adding to the double accumulators
constexpr double FAR = 4.0;
// Software prefetch distance. The loops spend 15-60 cycles per vector on arithmetic,
// so the out-of-order window covers only a few hundred bytes of each stream, and the
// hardware prefetcher alone leaves them waiting on memory whenever the tensors are
// not already in cache (a training step's are not). Reading the inputs, and taking
// ownership of the output lines, 4 KB ahead hides that latency. Measured with
// scripts/bench_kernels.py on (256, 16, 32, 32), forward+backward against ReLU
// (results/bench/cpu.csv, whose "no prefetch" rows build the kernel with
// -DPAU_PREFETCH_BYTES=0): float32 1.48x -> 1.26x, RPAU 2.51x -> 1.89x. 2 KB, 8 KB
// and 16 KB ahead were within the noise of 4 KB or slower; a hint into L2 only was
// no better.
#ifndef PAU_PREFETCH_BYTES
#define PAU_PREFETCH_BYTES 4096
#endif
constexpr int64_t PREFETCH_BYTES = PAU_PREFETCH_BYTES;

template <typename S>
PAU_INLINE void prefetch_read(const S* p) {
  if constexpr (PREFETCH_BYTES > 0) __builtin_prefetch(reinterpret_cast<const char*>(p) + PREFETCH_BYTES, 0);
}
template <typename S>
PAU_INLINE void prefetch_write(S* p) {
  if constexpr (PREFETCH_BYTES > 0) __builtin_prefetch(reinterpret_cast<const char*>(p) + PREFETCH_BYTES, 1);
}

enum Form { FORM_A = 0, FORM_B = 1, FORM_C = 2, FORM_N = 3 };

struct bf16 {  // storage tag: the upper 16 bits of a float32
  uint16_t bits;
};

template <typename T>
struct Vec;
template <>
struct Vec<float> {
  typedef float V __attribute__((vector_size(64)));
  typedef uint32_t U __attribute__((vector_size(64)));
  typedef int32_t I __attribute__((vector_size(64)));  // comparison masks
  static constexpr int L = 16;
};
template <>
struct Vec<double> {
  typedef double V __attribute__((vector_size(64)));
  typedef uint32_t U __attribute__((vector_size(32)));
  typedef int64_t I __attribute__((vector_size(64)));
  static constexpr int L = 8;
};

template <typename U>
PAU_INLINE U lowbias32v(U x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

template <typename T>
struct Ops {
  using V = typename Vec<T>::V;
  using U = typename Vec<T>::U;
  using I = typename Vec<T>::I;
  static constexpr int L = Vec<T>::L;

  static PAU_INLINE V splat(T s) { return V{} + s; }
  static PAU_INLINE V vabs(V z) {  // clear the sign bit: one instruction
    I bits;
    std::memcpy(&bits, &z, sizeof(V));
    using E = typename std::conditional<sizeof(T) == 4, int32_t, int64_t>::type;
    bits &= std::numeric_limits<E>::max();
    V r;
    std::memcpy(&r, &bits, sizeof(V));
    return r;
  }
  static PAU_INLINE V vsgn(V z) { return z >= 0 ? splat(T(1)) : splat(T(-1)); }  // sign(0) := +1
  // vsgn(z) * v: v with its sign bit flipped where !(z >= 0). One compare into a mask
  // register and one masked xor, where the product costs a compare, a blend and a multiply.
  static PAU_INLINE V mulsgn(V v, V z) {
#if defined(__AVX512F__)
    if constexpr (sizeof(T) == 4) {
      __m512 vm, zm;
      std::memcpy(&vm, &v, sizeof(V));
      std::memcpy(&zm, &z, sizeof(V));
      const __mmask16 neg = _mm512_cmp_ps_mask(zm, _mm512_setzero_ps(), _CMP_NGE_UQ);
      const __m512i r = _mm512_mask_xor_epi32(_mm512_castps_si512(vm), neg, _mm512_castps_si512(vm),
                                              _mm512_set1_epi32(int32_t(0x80000000u)));
      std::memcpy(&v, &r, sizeof(V));
      return v;
    } else {
      __m512d vm, zm;
      std::memcpy(&vm, &v, sizeof(V));
      std::memcpy(&zm, &z, sizeof(V));
      const __mmask8 neg = _mm512_cmp_pd_mask(zm, _mm512_setzero_pd(), _CMP_NGE_UQ);
      const __m512i r = _mm512_mask_xor_epi64(_mm512_castpd_si512(vm), neg, _mm512_castpd_si512(vm),
                                              _mm512_set1_epi64(int64_t(0x8000000000000000ull)));
      std::memcpy(&v, &r, sizeof(V));
      return v;
    }
#endif
    return v * vsgn(z);
  }
  // Whether any lane has |x| > FAR: a compare into a mask register and a test.
  static PAU_INLINE bool any_far(V x) {
#if defined(__AVX512F__)
    if constexpr (sizeof(T) == 4) {
      __m512 xm;
      std::memcpy(&xm, &x, sizeof(V));
      return _mm512_cmp_ps_mask(_mm512_abs_ps(xm), _mm512_set1_ps(float(FAR)), _CMP_GT_OQ) != 0;
    } else {
      __m512d xm;
      std::memcpy(&xm, &x, sizeof(V));
      return _mm512_cmp_pd_mask(_mm512_abs_pd(xm), _mm512_set1_pd(FAR), _CMP_GT_OQ) != 0;
    }
#endif
    return any(vabs(x) > T(FAR));
  }
  static PAU_INLINE bool any(I mask) {
    uint64_t w[sizeof(I) / 8];
    std::memcpy(w, &mask, sizeof(I));
    uint64_t r = 0;
    for (unsigned i = 0; i < sizeof(I) / 8; ++i) r |= w[i];
    return r != 0;
  }
  // 1/q. float32 on AVX-512: a 14-bit estimate and one Newton step (relative error
  // about 2^-27, three instructions with the throughput of FMAs instead of a divide).
  static PAU_INLINE V recip(V q) {
#if defined(__AVX512F__)
    if constexpr (sizeof(T) == 4) {
      __m512 qm;
      std::memcpy(&qm, &q, sizeof(V));
      const __m512 r0m = _mm512_rcp14_ps(qm);
      V r0;
      std::memcpy(&r0, &r0m, sizeof(V));
      return r0 + r0 * (T(1) - q * r0);
    }
#endif
    return T(1) / q;
  }
};

// Loads and stores of L elements of storage type S as one compute vector of T.
template <typename T, typename S>
struct IO {
  using V = typename Vec<T>::V;
  static PAU_INLINE V load(const S* p) {
    V v;
    std::memcpy(&v, p, sizeof(V));
    return v;
  }
  static PAU_INLINE void store(S* p, V v) { std::memcpy(p, &v, sizeof(V)); }
};

template <>
struct IO<float, bf16> {
  using V = Vec<float>::V;
  using U = Vec<float>::U;
  typedef uint16_t H __attribute__((vector_size(32)));
  static PAU_INLINE V load(const bf16* p) {
    H h;
    std::memcpy(&h, p, sizeof(H));
    const U u = __builtin_convertvector(h, U) << 16;
    V v;
    std::memcpy(&v, &u, sizeof(V));
    return v;
  }
  static PAU_INLINE void store(bf16* p, V v) {
    U u;
    std::memcpy(&u, &v, sizeof(U));
    // Round to nearest even; NaN stays a (quiet) NaN instead of rounding into inf.
    const U rounded = (u + (0x7fffU + ((u >> 16) & 1U))) >> 16;
    const U quiet = (u >> 16) | 0x40U;
    const U r = (u & 0x7fffffffU) > 0x7f800000U ? quiet : rounded;
    const H h = __builtin_convertvector(r, H);
    std::memcpy(p, &h, sizeof(H));
  }
};

template <>
struct IO<float, _Float16> {
  using V = Vec<float>::V;
  typedef _Float16 H __attribute__((vector_size(32)));
  static PAU_INLINE V load(const _Float16* p) {
#if defined(__AVX512F__)
    // GCC 12 scalarises __builtin_convertvector from _Float16; vcvtph2ps is one instruction.
    const __m512 w = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    V v;
    std::memcpy(&v, &w, sizeof(V));
    return v;
#else
    H h;
    std::memcpy(&h, p, sizeof(H));
    return __builtin_convertvector(h, V);
#endif
  }
  static PAU_INLINE void store(_Float16* p, V v) {
    const H h = __builtin_convertvector(v, H);  // round to nearest even
    std::memcpy(p, &h, sizeof(H));
  }
};

// Vectors as named fields (the fixed orders' accumulators and noisy coefficients):
// with constant indices the switch folds away and each field is a register (GCC
// keeps no array of vectors in registers).
template <typename V>
struct Registers {
  V r0{}, r1{}, r2{}, r3{}, r4{}, r5{}, r6{}, r7{}, r8{}, r9{}, r10{}, r11{}, r12{}, r13{}, r14{}, r15{};
  PAU_INLINE const V& operator[](int k) const { return const_cast<Registers&>(*this)[k]; }
  PAU_INLINE V& operator[](int k) {
    switch (k) {
      case 0: return r0;
      case 1: return r1;
      case 2: return r2;
      case 3: return r3;
      case 4: return r4;
      case 5: return r5;
      case 6: return r6;
      case 7: return r7;
      case 8: return r8;
      case 9: return r9;
      case 10: return r10;
      case 11: return r11;
      case 12: return r12;
      case 13: return r13;
      case 14: return r14;
      default: return r15;
    }
  }
};
constexpr int MAX_REGISTERS = 16;

struct Noise {
  double alpha;
  uint32_t mixed;  // s = h(seed_lo ^ h(seed_hi)): the whole seed, hashed (pau/math/noise.py)
};

// Per-call constants of one coefficient set, and the per-vector coefficients under noise.
template <typename T, int FORM, bool NOISE>
struct Coefs {
  using O = Ops<T>;
  using V = typename O::V;
  using U = typename O::U;
  using I = typename O::I;
  int m1, nb;
  // Form A keeps |b_k| in base and cur and applies sign(b_k) to the segment's sums:
  // exact without noise, and with noise when alpha <= 1, since c (1 + alpha z) with
  // |z| < 1 keeps the sign of c.
  bool abs_folded;
  std::vector<V> base;    // broadcast a_0..a_m, b_* (|b_k| for form A when folded)
  std::vector<V> scale;   // noisy c = half * scale + offset, half the 16-bit draw
  std::vector<V> offset;
  std::vector<uint32_t> mult;  // the words' odd multipliers (pau/math/noise.py)
  std::vector<V> cur;     // this vector's coefficients (noisy, or = base)
  std::vector<T> raw;
  std::vector<T> lane;    // one lane's coefficients, for the lanes beyond FAR
  const Noise* nz;
  uint32_t cached_hi = 0, cached_key = 0;
  bool have_key = false;

  Coefs(const T* a, int m1_, const T* b, int nb_, const Noise* nz_)
      : m1(m1_), nb(nb_), nz(nz_) {
    abs_folded = FORM == FORM_A && (!NOISE || nz->alpha <= 1.0);
    raw.assign(a, a + m1);
    raw.insert(raw.end(), b, b + nb);
    lane.resize(m1 + nb);
    const double alpha = nz->alpha;
    for (int k = 0; k < m1 + nb; ++k) {
      double c = raw[k];
      if (abs_folded && k >= m1) c = c < 0 ? -c : c;
      base.push_back(O::splat(static_cast<T>(c)));
      // c + alpha c z with z = half 2^-15 + (2^-16 - 1): one multiply-add per draw.
      scale.push_back(O::splat(static_cast<T>(alpha * c * 0x1p-15)));
      offset.push_back(O::splat(static_cast<T>(c + alpha * c * (0x1p-16 - 1.0))));
    }
    cur = base;
    // M_w = lowbias32((w + 1) * 0x9E3779B9 + 3) | 1, the per-word multipliers.
    for (int w = 0; w < (m1 + nb + 1) / 2; ++w) {
      const U x = U{} + static_cast<uint32_t>((w + 1) * 0x9E3779B9U + 3U);
      mult.push_back(lowbias32v<U>(x)[0] | 1U);
    }
  }

  // Noisy coefficients for the L elements starting at flat index first: the
  // generator of pau/math/noise.py. Vector instructions per vector of 16 floats: the
  // element hash 10 (xor, lowbias32: two vpmulld and six shifts/xors; its 64-bit key
  // is cached per run of 2^32 elements), per word of two draws 3 (vpmulld by the
  // word's odd constant, shift, one vpternlogd for the xor-and), per draw 2 (convert,
  // multiply-add): 10 + 5 * 3 + 10 * 2 = 45 for the paper's 10 coefficients (7 vpmulld),
  // once in the forward and once in the backward. Before (a full lowbias32 per word):
  // 10 + 5 * 10 + 10 * 3 = 90 (12 vpmulld).
  PAU_INLINE void draw(int64_t first) { draw_into(first, cur); }
  template <typename Out, int NC = 0>
  PAU_INLINE void draw_into(int64_t first, Out& out) {
    if (!NOISE) return;
    const uint64_t f = static_cast<uint64_t>(first);
    const uint32_t lo0 = static_cast<uint32_t>(f), hi0 = static_cast<uint32_t>(f >> 32);
    U idx;
    for (int i = 0; i < O::L; ++i) idx[i] = static_cast<uint32_t>(i);
    const U lo = idx + lo0;
    U key;
    if (lo0 <= 0xffffffffU - (O::L - 1)) {  // one high word for the whole vector
      if (!have_key || hi0 != cached_hi) {
        U one = U{} + (hi0 ^ nz->mixed);
        cached_key = lowbias32v<U>(one)[0];
        cached_hi = hi0;
        have_key = true;
      }
      key = U{} + cached_key;
    } else {
      const U carry = (U)(lo < lo0);  // all ones where the low word wrapped
      const U hi = (U{} + hi0) - carry;
      key = lowbias32v<U>(hi ^ nz->mixed);
    }
    const U e = lowbias32v<U>(lo ^ key);
    using IU = typename std::conditional<sizeof(T) == 4, I, int32_t __attribute__((vector_size(32)))>::type;
    const int nc = NC ? NC : m1 + nb;
#pragma GCC unroll 16
    for (int w = 0; w < (nc + 1) / 2; ++w) {
      const U word = e * mult[w];
      const U high = word >> 16;
      const int k = 2 * w;
      const V h0 = __builtin_convertvector((IU)((word ^ high) & 0xffffU), V);
      out[k] = h0 * scale[k] + offset[k];
      if (k + 1 < nc) {
        const V h1 = __builtin_convertvector((IU)high, V);
        out[k + 1] = h1 * scale[k + 1] + offset[k + 1];
      }
    }
  }
  PAU_INLINE V a(int j) const { return cur[j]; }
  PAU_INLINE V b(int k) const { return cur[m1 + k]; }
  template <int M1S>
  PAU_INLINE V bf(int k) const { return cur[(M1S ? M1S : m1) + k]; }
  // |b_k| as Q uses it (stored as such when folded).
  PAU_INLINE V babs(int k) const { return (FORM == FORM_A && NOISE && !abs_folded) ? O::vabs(cur[m1 + k]) : cur[m1 + k]; }
  // Lane i's coefficients in lane[], for the scalar evaluation beyond FAR.
  inline const T* gather(int i) {
    for (int k = 0; k < m1 + nb; ++k) lane[k] = cur[k][i];
    return lane.data();
  }
};

template <typename T, int FORM, bool NOISE, int NC>
__attribute__((noinline, cold)) const T* redraw_lane(Coefs<T, FORM, NOISE>& c, int64_t first, int i) {
  Registers<typename Vec<T>::V> again;
  c.template draw_into<Registers<typename Vec<T>::V>, NC>(first, again);
  for (int k = 0; k < NC; ++k) c.lane[k] = again[k][i];
  return c.lane.data();
}

// Under noise with the paper's orders: the current vector's coefficients drawn into
// registers instead of the set's buffer (which would be stored and reloaded).
template <typename T, int FORM, bool NOISE, int M1S, int NBS>
struct RegisterCoefs {
  using V = typename Vec<T>::V;
  Coefs<T, FORM, NOISE>& c;
  Registers<V> cur;
  int m1, nb;
  // Used only where the signs of form A's b_k are folded (alpha <= 1, or another
  // form): a constant, so the loops carry no per-lane sign code or run-time test.
  static constexpr bool abs_folded = true;
  int64_t first_ = 0;
  explicit RegisterCoefs(Coefs<T, FORM, NOISE>& c_) : c(c_), m1(M1S), nb(NBS) {
    if (!NOISE)  // the clean coefficients, copied once into registers (no reload per vector)
      for (int k = 0; k < M1S + NBS; ++k) cur[k] = c.cur[k];
  }
  PAU_INLINE void draw(int64_t first) {
    first_ = first;
    c.template draw_into<Registers<V>, M1S + NBS>(first, cur);
  }
  PAU_INLINE V a(int j) const { return cur[j]; }
  PAU_INLINE V b(int k) const { return cur[M1S + k]; }
  PAU_INLINE V babs(int k) const {
    return (FORM == FORM_A && NOISE && !abs_folded) ? Ops<T>::vabs(cur[M1S + k]) : cur[M1S + k];
  }
  // Lane i's coefficients for the scalar path beyond FAR: drawn again (rare lanes)
  // rather than read from cur, which would make the compiler store every vector's
  // coefficients to memory on the hot path (10 stores per vector).
  // (A free function: a member would let this object's address escape, with the same stores.)
  PAU_INLINE const T* gather(int i) {
    if constexpr (!NOISE) return c.gather(i);
    return redraw_lane<T, FORM, NOISE, M1S + NBS>(c, first_, i);
  }
};

template <typename T>
inline T sgn(T z) {
  return z >= 0 ? T(1) : T(-1);
}

// x^e for integer e, as repeated products of x (e >= 0) or of u = 1/x (e < 0).
template <typename T>
inline T signed_power(T x, T u, int e) {
  const T base = e >= 0 ? x : u;
  T r = 1;
  for (int i = 0; i < (e >= 0 ? e : -e); ++i) r *= base;
  return r;
}

// One element with |x| > FAR, in u = 1/x (formulas in pau/math/reference.py).
// coef: a_0..a_m, then b (|b_k| for form A when folded: sign(b_k) is then applied
// to the segment's sums). With acc, adds the coefficient gradients times g and
// stores grad_x.
template <typename T, int FORM>
T far_lane(T x, T g, const T* coef, int m1, int nb, bool folded, double* acc, T* grad_x) {
  const int m = m1 - 1, n = FORM == FORM_C ? nb - 1 : nb, d = m - n;
  const T* b = coef + m1;
  const T u = T(1) / x, au = u < 0 ? -u : u, su = sgn(u);
  T pt = coef[0], dpt = 0;
  for (int i = 1; i < m1; ++i) {
    dpt = dpt * u + pt;
    pt = pt * u + coef[i];
  }
  T qt, dqt, tau = 1;
  if (FORM == FORM_A || FORM == FORM_N) {
    const T z = FORM == FORM_A ? au : u;
    qt = 1;
    dqt = 0;
    for (int k = 0; k < nb; ++k) {
      const T bk = FORM == FORM_A ? (b[k] < 0 ? -b[k] : b[k]) : b[k];
      dqt = dqt * z + qt;
      qt = qt * z + bk;
    }
    if (FORM == FORM_A) dqt *= su;
  } else {
    T st = 0, dst = 0;
    if (nb > 0) st = b[0];
    for (int k = 1; k < nb; ++k) {
      dst = dst * u + st;
      st = st * u + b[k];
    }
    tau = sgn(st);
    const T off = FORM == FORM_C ? T(0.1) : T(1);
    qt = off * signed_power(au, au, n) + (st < 0 ? -st : st);
    dqt = tau * dst + (n > 0 ? off * T(n) * su * signed_power(au, au, n - 1) : T(0));
  }
  const T r = pt / qt;
  const T sigma = (FORM != FORM_N && (n & 1)) ? sgn(x) : T(1);
  const T y = r * signed_power(x, u, d) * sigma;
  if (acc) {
    const T dr = (dpt - r * dqt) / qt;
    const T gs = g * sigma;
    *grad_x = gs * signed_power(x, u, d - 1) * (T(d) * r - u * dr);
    for (int j = 0; j < m1; ++j) acc[j] += static_cast<double>(gs * signed_power(x, u, j - n) / qt);
    const int first = FORM == FORM_C ? 0 : 1;
    for (int i = 0; i < nb; ++i) {
      const int k = i + first;
      T part = -gs * r * signed_power(x, u, d - n + k) / qt;
      if (FORM == FORM_A) {
        part *= signed_power(sgn(x), sgn(x), n - k);
        if (!folded) part *= sgn(b[i]);
      } else {
        part *= tau;
      }
      acc[m1 + i] += static_cast<double>(part);
    }
  }
  return y;
}

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
  static PAU_INLINE void horner(V z, int count, Get coef, V& f, V& d) {
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

  template <typename C>
  PAU_INLINE Eval(V x, const C& c) {
    const int m1 = M1S ? M1S : c.m1, nb = NBS ? NBS : c.nb;
    horner(x, m1, [&](int j) __attribute__((always_inline)) { return c.a(j); }, p, dp);
    // Inner polynomial in base: A: sum |b_k| |x|^k; B, N: sum_{k>=1} b_k x^k; C: sum_{k>=0}.
    const V base = FORM == FORM_A ? O::vabs(x) : x;
    V s = V{}, ds = V{};
    if (nb > 0) horner(base, nb, [&](int k) __attribute__((always_inline)) { return c.babs(k); }, s, ds);
    if (FORM != FORM_C) {
      // Stored index 0 carries x^1: s <- s * base, ds <- ds * base + s.
      if (DERIV) ds = nb > 0 ? ds * base + s : V{};
      s = s * base;
    }
    if (FORM == FORM_A || FORM == FORM_N) {
      q = T(1) + s;
    } else {
      q = (FORM == FORM_C ? T(0.1) : T(1)) + O::vabs(s);
      sg = s;  // sign(s) is applied by O::mulsgn(., sg)
    }
    if (DERIV) {
      dq = ds;
      if (FORM == FORM_A) dq = O::mulsgn(dq, x);  // chain rule through |x|
      if (FORM == FORM_B || FORM == FORM_C) dq = O::mulsgn(dq, sg);
    }
  }
};

template <typename T, int FORM, bool NOISE, int M1S, int NBS, typename C>
PAU_INLINE typename Ops<T>::V forward_vector(typename Ops<T>::V x, C& c) {
  using O = Ops<T>;
  using V = typename O::V;
  if (__builtin_expect(!O::any_far(x), 1)) {
    Eval<T, FORM, NOISE, false, M1S, NBS> e(x, c);
    return e.p * O::recip(e.q);
  }
  const auto far = O::vabs(x) > T(FAR);
  Eval<T, FORM, NOISE, false, M1S, NBS> e(far ? V{} : x, c);
  V y = e.p * O::recip(e.q);
  for (int i = 0; i < O::L; ++i)
    if (far[i]) y[i] = far_lane<T, FORM>(x[i], T(0), c.gather(i), c.m1, c.nb, c.abs_folded, nullptr, nullptr);
  return y;
}

template <typename T, typename S, int FORM, bool NOISE, int M1S, int NBS, typename C>
PAU_INLINE void forward_loop(const S* x, S* y, int64_t len, int64_t first_index, C& c) {
  using O = Ops<T>;
  using io = IO<T, S>;
  constexpr int L = O::L;
  int64_t i = 0;
  for (; i + L <= len; i += L) {
    // Prefetches never fault: those past the end of the tensor are harmless.
    prefetch_read(x + i);
    prefetch_write(y + i);
    c.draw(first_index + i);
    io::store(y + i, forward_vector<T, FORM, NOISE, M1S, NBS>(io::load(x + i), c));
  }
  if (i < len) {
    S bx[L] = {}, by[L];
    std::memcpy(bx, x + i, (len - i) * sizeof(S));
    c.draw(first_index + i);
    io::store(by, forward_vector<T, FORM, NOISE, M1S, NBS>(io::load(bx), c));
    std::memcpy(y + i, by, (len - i) * sizeof(S));
  }
}

// Fixed orders hold the vector's coefficients in registers (RegisterCoefs: drawn
// there under noise, copied there once without); otherwise the set's own buffer.
// Every storage type takes the same path: bfloat16 results must equal float32's on
// the same values bit for bit, and the compiler's contraction of a * b + c into
// FMAs may differ between the two paths.
template <int M1S, int NBS>
constexpr bool draws_in_registers(bool) {
  return M1S > 0 && M1S + NBS <= MAX_REGISTERS;
}

template <typename T, typename S, int FORM, bool NOISE, int M1S, int NBS>
void forward_span(const S* x, S* y, int64_t len, int64_t first_index, Coefs<T, FORM, NOISE>& c) {
  if constexpr (draws_in_registers<M1S, NBS>(NOISE)) {
    if (FORM == FORM_A && !c.abs_folded) return forward_loop<T, S, FORM, NOISE, M1S, NBS>(x, y, len, first_index, c);
    RegisterCoefs<T, FORM, NOISE, M1S, NBS> rc(c);
    forward_loop<T, S, FORM, NOISE, M1S, NBS>(x, y, len, first_index, rc);
  } else {
    forward_loop<T, S, FORM, NOISE, M1S, NBS>(x, y, len, first_index, c);
  }
}

// Coefficient-gradient sums of one segment. The vector accumulators (one register
// vector of T per coefficient) are a local array of the span loop: with the paper's
// orders fixed at compile time they stay in registers. Every FLUSH vectors they are
// widened and added to double lanes (no horizontal sums in the loop); the lanes are
// summed once, at the end of the segment, in a fixed order.
template <typename T>
struct GradSums {
  using V = typename Vec<T>::V;
  typedef double D __attribute__((vector_size(64)));
  static constexpr int DV = sizeof(T) == 4 ? 2 : 1;  // double vectors per vector of T
  std::vector<D> dacc;
  double* acc;
  int nc;
  GradSums(int nc_, double* acc_) : dacc(static_cast<size_t>(nc_) * DV, D{}), acc(acc_), nc(nc_) {}
  template <int NCS, typename Acc>
  PAU_INLINE void add(Acc& vacc) {
#pragma GCC unroll 64
    for (int k = 0; k < (NCS ? NCS : nc); ++k) {
      if constexpr (DV == 2) {
        const V v = vacc[k];
        const auto lo = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7);
        const auto hi = __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
        dacc[2 * k] += __builtin_convertvector(lo, D);
        dacc[2 * k + 1] += __builtin_convertvector(hi, D);
      } else {
        dacc[k] += (D)vacc[k];
      }
      vacc[k] = V{};
    }
  }
  void finish() {
    for (int k = 0; k < nc; ++k) {
      double s = 0;
      for (int d = 0; d < DV; ++d)
        for (int i = 0; i < 8; ++i) s += dacc[DV * k + d][i];
      acc[k] += s;
    }
  }
};


template <typename T, int FORM, bool NOISE, int M1S, int NBS, typename Acc, typename C>
PAU_INLINE typename Ops<T>::V backward_near(typename Ops<T>::V x, typename Ops<T>::V g, const C& c, Acc& vacc) {
  using O = Ops<T>;
  using V = typename O::V;
  const int m1 = M1S ? M1S : c.m1, nb = NBS ? NBS : c.nb;
  Eval<T, FORM, NOISE, true, M1S, NBS> e(x, c);
  const V r = O::recip(e.q);
  const V w = g * r;           // dL/dP
  const V vn = (w * e.p) * r;  // -dL/dQ: subtracted below (multiply-subtracts, no negation)
  const bool per_lane_sign = FORM == FORM_A && NOISE && !c.abs_folded;
  if constexpr (M1S > 0) {
    // Fixed orders: the powers x^j are formed once and shared by the numerator and
    // the denominator sums (|x|^j = x^j for even j, |x| x^(j-1) for odd j > 1).
    constexpr int NP = std::max(M1S, NBS + 1);
    Registers<V> xp;
    xp[1] = x;
#pragma GCC unroll 16
    for (int j = 2; j < NP; ++j) xp[j] = j == 2 ? x * x : xp[j - 1] * x;
    vacc[0] += w;
#pragma GCC unroll 16
    for (int j = 1; j < M1S; ++j) vacc[j] += w * xp[j];
    if (FORM == FORM_A) {
      const V ax = O::vabs(x);
#pragma GCC unroll 16
      for (int k = 0; k < NBS; ++k) {
        const int ex = k + 1;
        const V pk = ex == 1 ? ax : (ex % 2 == 0 ? xp[ex] : ax * xp[ex - 1]);
        vacc[M1S + k] -= (per_lane_sign ? O::mulsgn(vn, c.b(k)) : vn) * pk;
      }
    } else {
      const V t = FORM == FORM_N ? vn : O::mulsgn(vn, e.sg);
#pragma GCC unroll 16
      for (int k = 0; k < NBS; ++k) {
        const int ex = FORM == FORM_C ? k : k + 1;
        if (ex == 0)
          vacc[M1S + k] -= t;
        else
          vacc[M1S + k] -= t * xp[ex];
      }
    }
  } else {
    V pw = O::splat(T(1));
    for (int j = 0; j < m1; ++j) {
      vacc[j] += w * pw;
      pw = pw * x;
    }
    if (FORM == FORM_A) {
      // dQ/db_k = sign(b_k) |x|^k; when folded the sign is applied per segment.
      const V ax = O::vabs(x);
      pw = ax;
      for (int k = 0; k < nb; ++k) {
        vacc[m1 + k] -= (per_lane_sign ? O::mulsgn(vn, c.b(k)) : vn) * pw;
        pw = pw * ax;
      }
    } else {
      const V t = FORM == FORM_N ? vn : O::mulsgn(vn, e.sg);
      pw = FORM == FORM_C ? O::splat(T(1)) : x;
      for (int k = 0; k < nb; ++k) {
        vacc[m1 + k] -= t * pw;
        pw = pw * x;
      }
    }
  }
  return w * e.dp - vn * e.dq;
}

template <typename T, int FORM, bool NOISE, int M1S, int NBS, typename Acc, typename C>
PAU_INLINE typename Ops<T>::V backward_vector(typename Ops<T>::V x, typename Ops<T>::V g, C& c, Acc& vacc,
                                              double* acc) {
  using O = Ops<T>;
  using V = typename O::V;
  if (__builtin_expect(!O::any_far(x), 1)) return backward_near<T, FORM, NOISE, M1S, NBS, Acc>(x, g, c, vacc);
  const auto far = O::vabs(x) > T(FAR);
  // Far lanes enter the vector code as x = 0 with grad 0 (they add nothing there).
  V gx = backward_near<T, FORM, NOISE, M1S, NBS, Acc>(far ? V{} : x, far ? V{} : g, c, vacc);
  for (int i = 0; i < O::L; ++i) {
    if (!far[i]) continue;
    T lane_gx;
    far_lane<T, FORM>(x[i], g[i], c.gather(i), c.m1, c.nb, c.abs_folded, acc, &lane_gx);
    gx[i] = lane_gx;
  }
  return gx;
}

template <typename T, typename S, int FORM, bool NOISE, int M1S, int NBS, typename C>
PAU_INLINE void backward_loop(const S* g, const S* x, S* gx, int64_t len, int64_t first_index, C& c,
                              GradSums<T>& sums, double* acc) {
  using O = Ops<T>;
  using V = typename O::V;
  using io = IO<T, S>;
  constexpr int L = O::L;
  constexpr int NCS = M1S + NBS;
  constexpr bool REGS = NCS > 0 && NCS <= MAX_REGISTERS;
  typename std::conditional<REGS, Registers<V>, std::vector<V>>::type vacc;
  if constexpr (!REGS) vacc.assign(c.m1 + c.nb, V{});
  using Acc = decltype(vacc);
  int64_t i = 0;
  while (i + L <= len) {
    const int64_t chunk_end = std::min(len - (len - i) % L, i + int64_t(FLUSH) * L);
    for (; i < chunk_end; i += L) {
      prefetch_read(x + i);
      prefetch_read(g + i);
      prefetch_write(gx + i);
      c.draw(first_index + i);
      io::store(gx + i, backward_vector<T, FORM, NOISE, M1S, NBS, Acc>(io::load(x + i), io::load(g + i), c, vacc, acc));
    }
    sums.template add<REGS ? NCS : 0, Acc>(vacc);
  }
  if (i < len) {
    // Padded lanes carry grad 0, so they add nothing to the coefficient sums.
    S bx[L] = {}, bg[L] = {}, bo[L];
    std::memcpy(bx, x + i, (len - i) * sizeof(S));
    std::memcpy(bg, g + i, (len - i) * sizeof(S));
    c.draw(first_index + i);
    io::store(bo, backward_vector<T, FORM, NOISE, M1S, NBS, Acc>(io::load(bx), io::load(bg), c, vacc, acc));
    std::memcpy(gx + i, bo, (len - i) * sizeof(S));
    sums.template add<REGS ? NCS : 0, Acc>(vacc);
  }
}

template <typename T, typename S, int FORM, bool NOISE, int M1S, int NBS>
void backward_span(const S* g, const S* x, S* gx, int64_t len, int64_t first_index, Coefs<T, FORM, NOISE>& c,
                   double* acc) {
  GradSums<T> sums(c.m1 + c.nb, acc);
  if constexpr (draws_in_registers<M1S, NBS>(NOISE)) {
    if (FORM == FORM_A && !c.abs_folded) {
      backward_loop<T, S, FORM, NOISE, M1S, NBS>(g, x, gx, len, first_index, c, sums, acc);
    } else {
      RegisterCoefs<T, FORM, NOISE, M1S, NBS> rc(c);
      backward_loop<T, S, FORM, NOISE, M1S, NBS>(g, x, gx, len, first_index, rc, sums, acc);
    }
  } else {
    backward_loop<T, S, FORM, NOISE, M1S, NBS>(g, x, gx, len, first_index, c, sums, acc);
  }
  sums.finish();
  if (FORM == FORM_A && c.abs_folded) {
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

// Segments a thread takes at a time: about GRAB_ELEMENTS of consecutive memory, so
// each thread streams long runs that its prefetches can run ahead in (with short
// rows, as under groups, single segments cost 1.8x instead of 1.2x ReLU), but at
// least two takes per thread, so small tensors still spread over the threads.
constexpr int64_t GRAB_ELEMENTS = 262144;

inline int64_t segments_per_take(Layout lo, int nthreads) {
  const int64_t seg_len = std::max<int64_t>(1, std::min(lo.row_len, SEGMENT));
  const int64_t by_size = std::max<int64_t>(1, GRAB_ELEMENTS / seg_len);
  const int64_t by_count = std::max<int64_t>(1, lo.rows * lo.segs / (2 * std::max(1, nthreads)));
  return std::min(by_size, by_count);
}

// Runs body(w, start, len, coefs) for every segment w in parallel (dynamic schedule:
// a core shared with another process does not hold up the call; each segment's
// partial sums are its own, so results do not depend on which thread ran it);
// each thread builds a group's coefficient set on first use.
template <typename T, int FORM, bool NOISE, typename Body>
void for_each_segment(Layout lo, const T* a, int m1, const T* b, int nb, const Noise& nz, int nthreads,
                      Body body) {
  const int64_t work = lo.rows * lo.segs;
  const int64_t take = segments_per_take(lo, nthreads);
#pragma omp parallel num_threads(nthreads) if (work > 1)
  {
    std::vector<std::unique_ptr<Coefs<T, FORM, NOISE>>> sets(lo.groups);
#pragma omp for schedule(dynamic, take)
    for (int64_t w = 0; w < work; ++w) {
      const int64_t r = w / lo.segs, s = w % lo.segs;
      const int64_t g = r % lo.groups;
      if (!sets[g]) sets[g].reset(new Coefs<T, FORM, NOISE>(a + g * m1, m1, b + g * nb, nb, &nz));
      const int64_t start = r * lo.row_len + s * SEGMENT;
      body(w, start, std::min(SEGMENT, lo.row_len - s * SEGMENT), *sets[g]);
    }
  }
}

template <typename T, typename S, int FORM, bool NOISE, int M1S, int NBS>
void forward_all(const S* x, S* y, Layout lo, const T* a, int m1, const T* b, int nb, const Noise& nz,
                 int nthreads) {
  for_each_segment<T, FORM, NOISE>(lo, a, m1, b, nb, nz, nthreads,
                                   [&](int64_t, int64_t start, int64_t len, Coefs<T, FORM, NOISE>& c) {
                                     forward_span<T, S, FORM, NOISE, M1S, NBS>(x + start, y + start, len, start, c);
                                   });
}

template <typename T, typename S, int FORM, bool NOISE, int M1S, int NBS>
void backward_all(const S* gy, const S* x, S* gx, Layout lo, const T* a, int m1, const T* b, int nb,
                  const Noise& nz, double* coef_grad, double* partial, int nthreads) {
  const int64_t work = lo.rows * lo.segs;
  const int nc = m1 + nb;
  for_each_segment<T, FORM, NOISE>(
      lo, a, m1, b, nb, nz, nthreads, [&](int64_t w, int64_t start, int64_t len, Coefs<T, FORM, NOISE>& c) {
        double* acc = partial + w * nc;
        std::fill(acc, acc + nc, 0.0);
        backward_span<T, S, FORM, NOISE, M1S, NBS>(gy + start, x + start, gx + start, len, start, c, acc);
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

template <typename T, typename S, int FORM, bool NOISE>
void forward_orders(const S* x, S* y, Layout lo, const T* a, int m1, const T* b, int nb, const Noise& nz, int nt) {
  if (m1 == 6 && nb == paper_nb<T, FORM>())
    forward_all<T, S, FORM, NOISE, 6, paper_nb<T, FORM>()>(x, y, lo, a, m1, b, nb, nz, nt);
  else
    forward_all<T, S, FORM, NOISE, 0, 0>(x, y, lo, a, m1, b, nb, nz, nt);
}

template <typename T, typename S, int FORM, bool NOISE>
void backward_orders(const S* gy, const S* x, S* gx, Layout lo, const T* a, int m1, const T* b, int nb,
                     const Noise& nz, double* cg, double* part, int nt) {
  if (m1 == 6 && nb == paper_nb<T, FORM>())
    backward_all<T, S, FORM, NOISE, 6, paper_nb<T, FORM>()>(gy, x, gx, lo, a, m1, b, nb, nz, cg, part, nt);
  else
    backward_all<T, S, FORM, NOISE, 0, 0>(gy, x, gx, lo, a, m1, b, nb, nz, cg, part, nt);
}

template <typename T, typename S, bool NOISE>
void forward_dispatch(int form, const S* x, S* y, Layout lo, const T* a, int m1, const T* b, int nb,
                      const Noise& nz, int nt) {
  switch (form) {
    case FORM_A: return forward_orders<T, S, FORM_A, NOISE>(x, y, lo, a, m1, b, nb, nz, nt);
    case FORM_B: return forward_orders<T, S, FORM_B, NOISE>(x, y, lo, a, m1, b, nb, nz, nt);
    case FORM_C: return forward_orders<T, S, FORM_C, NOISE>(x, y, lo, a, m1, b, nb, nz, nt);
    default: return forward_orders<T, S, FORM_N, NOISE>(x, y, lo, a, m1, b, nb, nz, nt);
  }
}

template <typename T, typename S, bool NOISE>
void backward_dispatch(int form, const S* gy, const S* x, S* gx, Layout lo, const T* a, int m1, const T* b,
                       int nb, const Noise& nz, double* cg, double* part, int nt) {
  switch (form) {
    case FORM_A: return backward_orders<T, S, FORM_A, NOISE>(gy, x, gx, lo, a, m1, b, nb, nz, cg, part, nt);
    case FORM_B: return backward_orders<T, S, FORM_B, NOISE>(gy, x, gx, lo, a, m1, b, nb, nz, cg, part, nt);
    case FORM_C: return backward_orders<T, S, FORM_C, NOISE>(gy, x, gx, lo, a, m1, b, nb, nz, cg, part, nt);
    default: return backward_orders<T, S, FORM_N, NOISE>(gy, x, gx, lo, a, m1, b, nb, nz, cg, part, nt);
  }
}

inline Noise make_noise(double alpha, uint64_t seed) {
  typedef uint32_t U1 __attribute__((vector_size(4)));
  const uint32_t hi = lowbias32v<U1>(U1{static_cast<uint32_t>(seed >> 32)})[0];
  return {alpha, lowbias32v<U1>(U1{static_cast<uint32_t>(seed) ^ hi})[0]};
}

}  // namespace

// S: storage type of x, y and the gradients; T: compute type of the math and the coefficients.
// PAU_PART n (0-3) compiles only the n-th storage type's functions: pau/kernels/cpu.py
// builds the four as separate translation units in parallel and links them.
#define PAU_EXPORT(S, T, SUFFIX)                                                                              \
  extern "C" void pau_forward_##SUFFIX(const S* x, S* y, int64_t rows, int64_t row_len, int64_t groups,  \
                                       const T* a, int64_t m1, const T* b, int64_t nb, int64_t form,       \
                                       double alpha, uint64_t seed, int64_t nthreads) {                    \
    const Layout lo = layout(rows, row_len, groups);                                                      \
    const Noise nz = make_noise(alpha, seed);                                                             \
    if (alpha != 0.0)                                                                                     \
      forward_dispatch<T, S, true>(form, x, y, lo, a, m1, b, nb, nz, nthreads);                              \
    else                                                                                                  \
      forward_dispatch<T, S, false>(form, x, y, lo, a, m1, b, nb, nz, nthreads);                             \
  }                                                                                                       \
  extern "C" int64_t pau_partials_##SUFFIX(int64_t rows, int64_t row_len) {                               \
    return rows * layout(rows, row_len, 1).segs;                                                          \
  }                                                                                                       \
  extern "C" void pau_backward_##SUFFIX(const S* gy, const S* x, S* gx, int64_t rows, int64_t row_len,    \
                                        int64_t groups, const T* a, int64_t m1, const T* b, int64_t nb,    \
                                        int64_t form, double alpha, uint64_t seed, double* coef_grad,      \
                                        double* partial, int64_t nthreads) {                               \
    const Layout lo = layout(rows, row_len, groups);                                                      \
    const Noise nz = make_noise(alpha, seed);                                                             \
    if (alpha != 0.0)                                                                                     \
      backward_dispatch<T, S, true>(form, gy, x, gx, lo, a, m1, b, nb, nz, coef_grad, partial, nthreads);    \
    else                                                                                                  \
      backward_dispatch<T, S, false>(form, gy, x, gx, lo, a, m1, b, nb, nz, coef_grad, partial, nthreads);   \
  }

#if !defined(PAU_PART) || PAU_PART == 0
PAU_EXPORT(float, float, f32)
#endif
#if !defined(PAU_PART) || PAU_PART == 1
PAU_EXPORT(double, double, f64)
#endif
#if !defined(PAU_PART) || PAU_PART == 2
PAU_EXPORT(bf16, float, bf16)
#endif
#if !defined(PAU_PART) || PAU_PART == 3
PAU_EXPORT(_Float16, float, f16)
#endif
