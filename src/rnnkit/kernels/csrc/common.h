// rnnkit native loops: what the LSTM, GRU and Elman loops share (products, activations, zoneout,
// sums over rows and steps). Layer norm and the input side are in layernorm.h. See bindings.cpp.
#pragma once
#include <torch/extension.h>
#include <ATen/cpu/vec/vec.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "panels.h"

using at::Tensor;
using OptTensor = std::optional<Tensor>;

extern "C" {
void sgemm_(const char*, const char*, const int*, const int*, const int*, const float*, const float*,
            const int*, const float*, const int*, const float*, float*, const int*);
void dgemm_(const char*, const char*, const int*, const int*, const int*, const double*, const double*,
            const int*, const double*, const int*, const double*, double*, const int*);
}

namespace rnnkit_native {

// The pointwise helpers run per vector of every step: inlined into the loops, where the activation kind,
// the same at every call, is a predicted branch instead of a call through memory.
#define RNNKIT_INLINE inline __attribute__((always_inline))

constexpr double kEps = 1e-5;  // layer-norm epsilon, as rnnkit.cells.base.LAYER_NORM_EPS

inline void gemm(char ta, char tb, int m, int n, int k, const float* a, int lda, const float* b, int ldb, float beta,
          float* c, int ldc) {
  const float one = 1.0f;
  sgemm_(&ta, &tb, &m, &n, &k, &one, a, &lda, b, &ldb, &beta, c, &ldc);
}
inline void gemm(char ta, char tb, int m, int n, int k, const double* a, int lda, const double* b, int ldb, double beta,
          double* c, int ldc) {
  const double one = 1.0;
  dgemm_(&ta, &tb, &m, &n, &k, &one, a, &lda, b, &ldb, &beta, c, &ldc);
}

// Row-major products on `rows` rows. C (rows x N) = beta C + A (rows x K) W^T, W (N x K).
template <typename T>
void mm_wt(int64_t rows, int64_t N, int64_t K, const T* A, int64_t lda, const T* W, int64_t ldw, T beta, T* C,
           int64_t ldc) {
  gemm('T', 'N', N, rows, K, W, ldw, A, lda, beta, C, ldc);
}
// C (rows x N) = beta C + A (rows x K) W, W (K x N).
template <typename T>
void mm_w(int64_t rows, int64_t N, int64_t K, const T* A, int64_t lda, const T* W, int64_t ldw, T beta, T* C,
          int64_t ldc) {
  gemm('N', 'N', N, rows, K, W, ldw, A, lda, beta, C, ldc);
}

// x (rows x k) W^T through oneDNN: torch's mkldnn::_linear_pointwise with a weight packed by
// mkldnn::_reorder_linear_weight (kernels/gemm.py decides when; float32 only).
inline Tensor onednn_linear(const Tensor& x, const Tensor& packed) {
  static const c10::OperatorHandle op =
      c10::Dispatcher::singleton().findSchemaOrThrow("mkldnn::_linear_pointwise", "");
  torch::jit::Stack stack;
  stack.reserve(6);
  stack.emplace_back(x);
  stack.emplace_back(packed);
  stack.emplace_back(c10::IValue());
  stack.emplace_back(std::string("none"));
  stack.emplace_back(c10::impl::GenericList(c10::OptionalType::create(c10::NumberType::get())));
  stack.emplace_back(std::string(""));
  op.callBoxed(&stack);
  return stack[0].toTensor();
}

// One recurrent product, out (rows x n) = beta out + x (rows x k) op(W) [+ add]: op(W) = W^T for a weight
// W (n x k), or W itself for W (k x n) (`transposed`, the backward products); `add`, optional, is a
// matrix of rows ld_add apart, or with ld_add 0 one row added to every row (a bias), with beta 0: the panel
// kernel adds it as it stores its tiles, the other paths copy it into out and accumulate. In float32 on a CPU
// with AVX-512 it runs the panel kernel (panels.h, the weight packed once per kernel call); with a
// oneDNN-packed weight (op(W)^T packed as an n x k linear weight) through oneDNN; else through BLAS.
template <typename T>
struct Product {
  const T* w = nullptr;
  int64_t n = 0, k = 0, ldw = 0;
  bool transposed = false;
  const Tensor* packed = nullptr;
  std::shared_ptr<Panels> panels;

  void operator()(int64_t rows, const T* x, int64_t ldx, T beta, T* out, int64_t ldo, const T* add = nullptr,
                  int64_t ld_add = 0) const {
    if (rows == 0) return;
    if constexpr (std::is_same_v<T, float>) {
      if (panels) {
        panel_product(rows, x, ldx, *panels, beta, out, ldo, add, ld_add);
        return;
      }
    }
    if (add) {                                                            // out = add, then out + x op(W)
      TORCH_CHECK(beta == T(0), "Product: an addend with beta ", beta);
      for (int64_t b = 0; b < rows; ++b) std::memcpy(out + b * ldo, add + b * ld_add, n * sizeof(T));
      beta = T(1);
    }
    if (packed) {
      const Tensor xt = at::from_blob(const_cast<T*>(x), {rows, k}, {ldx, 1},
                                      at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value));
      const Tensor y = onednn_linear(xt.contiguous(), *packed);         // strided rows: oneDNN's slow path
      const T* yp = y.data_ptr<T>();
      for (int64_t b = 0; b < rows; ++b)
        for (int64_t j = 0; j < n; ++j) out[b * ldo + j] = (beta == T(0) ? T(0) : out[b * ldo + j]) + yp[b * n + j];
      return;
    }
    if (transposed) mm_w(rows, n, k, x, ldx, w, ldw, beta, out, ldo);
    else mm_wt(rows, n, k, x, ldx, w, ldw, beta, out, ldo);
  }
};

template <typename T>
Product<T> make_product(const T* w, int64_t n, int64_t k, int64_t ldw, bool transposed, const OptTensor& packed) {
  Product<T> product;
  product.w = w;
  product.n = n;
  product.k = k;
  product.ldw = ldw;
  product.transposed = transposed;
  product.packed = packed.has_value() && packed->defined() ? &*packed : nullptr;
  if constexpr (std::is_same_v<T, float>) {
    if (w != nullptr && panels_supported())
      product.panels = transposed ? pack_panels(w, n, k, 1, ldw) : pack_panels(w, n, k, ldw, 1);
  }
  return product;
}

template <typename T>
using Vec = at::vec::Vectorized<T>;

// e^x of float lanes by ATen's exp_u20 algorithm (ATen/cpu/vec/vec512|vec256/vec*_float.h), restated
// here so that it is always inlined: GCC kept ATen's as an out-of-line call in the LSTM forward step,
// and each call there spilled the live vector registers. x = n ln2 + r, e^r by a degree-5 polynomial,
// times 2^n; inputs are clamped to [ln FLT_MIN, ln FLT_MAX] and below ln FLT_MIN give 0.
#if defined(CPU_CAPABILITY_AVX512)
RNNKIT_INLINE __m512 exp_u20_lanes(__m512 x) {
  const __mmask16 tiny = _mm512_cmp_ps_mask(x, _mm512_castsi512_ps(_mm512_set1_epi32(0xc2aeac50)), _CMP_LT_OS);
  __m512 src = _mm512_min_ps(x, _mm512_castsi512_ps(_mm512_set1_epi32(0x42b17218)));      // ln FLT_MAX
  src = _mm512_max_ps(src, _mm512_castsi512_ps(_mm512_set1_epi32(0xc2aeac50)));          // ln FLT_MIN
  __m512 fx = _mm512_fmadd_ps(src, _mm512_castsi512_ps(_mm512_set1_epi32(0x3fb8aa3b)), _mm512_set1_ps(0.5f));
  fx = _mm512_cvtepi32_ps(_mm512_cvt_roundps_epi32(fx, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC));   // n
  const __m512 r = _mm512_fnmadd_ps(fx, _mm512_castsi512_ps(_mm512_set1_epi32(0x3f317218)), src);   // x - n ln2
  __m512 y = _mm512_fmadd_ps(r, _mm512_set1_ps(0.00828929059f), _mm512_set1_ps(0.0418978221f));
  y = _mm512_fmadd_ps(r, y, _mm512_set1_ps(0.166676521f));
  y = _mm512_fmadd_ps(r, y, _mm512_set1_ps(0.499991506f));
  y = _mm512_fmadd_ps(r, y, _mm512_set1_ps(0.999999701f));
  y = _mm512_fmadd_ps(r, y, _mm512_set1_ps(1.0f));
  const __m512i n1 = _mm512_cvtps_epi32(_mm512_sub_ps(fx, _mm512_set1_ps(1.0f)));               // 2^(n - 1)
  __m512 pow2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n1, _mm512_set1_epi32(127)), 23));
  pow2 = _mm512_mask_blend_ps(tiny, pow2, _mm512_setzero_ps());
  return _mm512_mul_ps(_mm512_mul_ps(y, pow2), _mm512_set1_ps(2.0f));
}
#elif defined(CPU_CAPABILITY_AVX2)
RNNKIT_INLINE __m256 exp_u20_lanes(__m256 x) {
  const __m256 tiny = _mm256_cmp_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32(0xc2aeac50)), _CMP_LT_OS);
  __m256 src = _mm256_min_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32(0x42b17218)));
  src = _mm256_max_ps(src, _mm256_castsi256_ps(_mm256_set1_epi32(0xc2aeac50)));
  __m256 fx = _mm256_floor_ps(
      _mm256_fmadd_ps(src, _mm256_castsi256_ps(_mm256_set1_epi32(0x3fb8aa3b)), _mm256_set1_ps(0.5f)));
  const __m256 r = _mm256_fnmadd_ps(fx, _mm256_castsi256_ps(_mm256_set1_epi32(0x3f317218)), src);
  __m256 y = _mm256_fmadd_ps(r, _mm256_set1_ps(0.00828929059f), _mm256_set1_ps(0.0418978221f));
  y = _mm256_fmadd_ps(r, y, _mm256_set1_ps(0.166676521f));
  y = _mm256_fmadd_ps(r, y, _mm256_set1_ps(0.499991506f));
  y = _mm256_fmadd_ps(r, y, _mm256_set1_ps(0.999999701f));
  y = _mm256_fmadd_ps(r, y, _mm256_set1_ps(1.0f));
  const __m256i n1 = _mm256_cvtps_epi32(_mm256_sub_ps(fx, _mm256_set1_ps(1.0f)));
  __m256 pow2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
  pow2 = _mm256_blendv_ps(pow2, _mm256_setzero_ps(), tiny);
  return _mm256_mul_ps(_mm256_mul_ps(y, pow2), _mm256_set1_ps(2.0f));
}
#endif

// Activations by id, in the order of kernels/native.py ACTIVATION_IDS. tanh is computed from one
// exponential, 1 - 2 / (1 + e^{2x}), a few times faster than SLEEF's tanh; its error is absolute,
// at most about one unit in the last place of 1 (1.2e-7 in float32, 2.2e-16 in float64). The
// exponential is ATen's exp_u20 (within 20 ulp in float32, about 2.4e-6 relative; exact exp in
// float64), half the cost of the 1-ulp one that would otherwise be most of a step's pointwise time;
// it clamps its input, so a NaN is put back (NaN in, NaN out, as in the torch loops).
template <typename T>
RNNKIT_INLINE Vec<T> exp_fast(const Vec<T>& x) {
#if defined(CPU_CAPABILITY_AVX512)
  if constexpr (std::is_same_v<T, float>)
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), exp_u20_lanes(x), x);   // NaN lanes: x
#elif defined(CPU_CAPABILITY_AVX2)
  if constexpr (std::is_same_v<T, float>) return Vec<T>::blendv(Vec<T>(exp_u20_lanes(x)), x, x.isnan());
#endif
  return Vec<T>::blendv(x.exp_u20(), x, x.isnan());
}

// 1 / d for d >= 1 (the activations' denominators). In float32 with AVX-512 or AVX2 from the
// hardware's reciprocal estimate (2^-14 or 1.5 2^-12) and one Newton step, r + r (1 - d r), within
// about 2 ulp: a division per vector is most of a step's pointwise time otherwise. d is clamped to the
// largest float first (1 / inf would give 0 * inf in the Newton step); a NaN stays NaN. A result below the
// smallest normal float (a saturated tanh's 2 / (1 + e^{2x})) is flushed to 0: the loops run with
// denormals off (denormals.h).
template <typename T>
RNNKIT_INLINE Vec<T> reciprocal(const Vec<T>& d) {
#if defined(CPU_CAPABILITY_AVX512)
  if constexpr (std::is_same_v<T, float>) {
    const __m512 dc = _mm512_min_ps(_mm512_set1_ps(std::numeric_limits<float>::max()), d);   // NaN: d
    const __m512 r = _mm512_rcp14_ps(dc);
    return _mm512_fmadd_ps(r, _mm512_fnmadd_ps(dc, r, _mm512_set1_ps(1.0f)), r);
  }
#elif defined(CPU_CAPABILITY_AVX2)
  if constexpr (std::is_same_v<T, float>) {
    const __m256 dc = _mm256_min_ps(_mm256_set1_ps(std::numeric_limits<float>::max()), d);
    const __m256 r = _mm256_rcp_ps(dc);
    return _mm256_fmadd_ps(r, _mm256_fnmadd_ps(dc, r, _mm256_set1_ps(1.0f)), r);
  }
#endif
  return Vec<T>(T(1)) / d;
}

template <typename T>
RNNKIT_INLINE Vec<T> activate(int64_t kind, const Vec<T>& x) {
  const Vec<T> one(T(1));
  switch (kind) {
    case 0: return one - Vec<T>(T(2)) * reciprocal(one + exp_fast(x + x));
    case 1: return reciprocal(one + exp_fast(x.neg()));
    case 2: return at::vec::minimum(at::vec::maximum(x + Vec<T>(T(3)), Vec<T>(T(0))), Vec<T>(T(6))) / Vec<T>(T(6));
    case 3: return at::vec::maximum(x, Vec<T>(T(0)));
    case 4: return x;
    default: return x * reciprocal(one + x.abs());
  }
}

// p[j] = f(p[j]) for j < n.
template <typename T>
void activate_inplace(int64_t kind, T* p, int64_t n) {
  constexpr int64_t W = Vec<T>::size();
  for (int64_t j = 0; j < n; j += W) {
    const int64_t m = std::min(W, n - j);
    activate(kind, Vec<T>::loadu(p + j, m)).store(p + j, m);
  }
}

// f'(z) from y = f(z), by id (the table of kernels/activations.py).
template <typename T>
RNNKIT_INLINE Vec<T> derivative(int64_t kind, const Vec<T>& y) {
  const Vec<T> one(T(1)), zero(T(0));
  switch (kind) {
    case 0: return one - y * y;
    case 1: return y - y * y;
    case 2: return y.gt(zero) * y.lt(one) * Vec<T>(T(1) / T(6));
    case 3: return y.gt(zero);
    case 4: return one;
    default: {
      const Vec<T> a = one - y.abs();
      return a * a;
    }
  }
}

// Zoneout factors: per element from draws d (T, B, X), or one constant p; `on` false: none.
template <typename T>
struct Zoneout {
  const T* draws;
  T p;
  bool on;
  Zoneout(const OptTensor& d, double p_, bool on_)
      : draws(d.has_value() ? d->data_ptr<T>() : nullptr), p(T(p_)), on(on_) {}
  // The factor vector at offset `at` (of draws) for `m` lanes.
  Vec<T> at(int64_t at, int64_t m) const { return draws ? Vec<T>::loadu(draws + at, m) : Vec<T>(p); }
};

template <typename T>
const T* ptr_or_null(const OptTensor& t) { return t.has_value() ? t->data_ptr<T>() : nullptr; }
template <typename T>
T* mut_or_null(const OptTensor& t) { return t.has_value() ? t->data_ptr<T>() : nullptr; }

// Sum of the lanes of v.
template <typename T>
RNNKIT_INLINE T lane_sum(const Vec<T>& v) {
#if defined(CPU_CAPABILITY_AVX512)
  if constexpr (std::is_same_v<T, float>) return _mm512_reduce_add_ps(v);
  if constexpr (std::is_same_v<T, double>) return _mm512_reduce_add_pd(v);
#endif
  __at_align__ T lanes[Vec<T>::size()];
  v.store(lanes);
  T total = T(0);
  for (int64_t k = 0; k < Vec<T>::size(); ++k) total += lanes[k];
  return total;
}

// Sums over rows and steps, such as a parameter vector's gradient: a step's rows are added in T with
// vector lanes, each of torch's intra-op threads in a row block of its own (over_rows), and the steps'
// totals in double, the threads' blocks in thread order (flush() after each step). An unused sum has n 0.
template <typename T>
struct Sums {
  std::vector<double> total;
  std::vector<T> step;           // one block of n per thread
  int64_t n;
  explicit Sums(int64_t n_) : total(n_), step(n_ * std::max(1, at::get_num_threads())), n(n_) {}
  // The sum of n values that store() writes to `out`; none (n 0) when out is absent.
  Sums(const OptTensor& out, int64_t n_) : Sums(out.has_value() ? n_ : int64_t(0)) {}

  // step[offset + j] += a[j] * c[j] (c null: a[j]) for j < m, in the calling thread's block.
  void add(const T* a, const T* c, int64_t m, int64_t offset = 0) {
    constexpr int64_t W = Vec<T>::size();
    T* s = block() + offset;
    for (int64_t j = 0; j < m; j += W) {
      const int64_t k = std::min(W, m - j);
      const Vec<T> v = c ? Vec<T>::loadu(a + j, k) * Vec<T>::loadu(c + j, k) : Vec<T>::loadu(a + j, k);
      (Vec<T>::loadu(s + j, k) + v).store(s + j, k);
    }
  }
  // The calling thread's block (add() into it; sums of more than one vector at once).
  T* block() { return step.data() + at::get_thread_num() * n; }
  void flush() {
    if (n == 0) return;
    const int64_t blocks = static_cast<int64_t>(step.size()) / n;
    for (int64_t k = 0; k < blocks; ++k) {
      T* s = step.data() + k * n;
      for (int64_t j = 0; j < n; ++j) {
        total[j] += s[j];
        s[j] = T(0);
      }
    }
  }
  void store(const OptTensor& out) const {
    if (!out.has_value()) return;
    T* p = out->data_ptr<T>();
    for (int64_t j = 0; j < n; ++j) p[j] = T(total[j]);
  }
};

// Asks for elements [0, n) of p to come into the L2 cache: what a step streams from its (T, B, .) buffers
// (the input projection, the backward factors), asked for before a product that hides the wait.
template <typename T>
void prefetch(const T* p, int64_t n) {
  if (p == nullptr) return;
  const char* bytes = reinterpret_cast<const char*>(p);
  for (int64_t k = 0; k < n * static_cast<int64_t>(sizeof(T)); k += 64) __builtin_prefetch(bytes + k, 0, 2);
}

// The least product worth a row block of its own: with the block's pointwise passes, a few µs against
// about one for a fork and join of torch's threads (2^18 left the T=200, B=16, H=64 steps on one thread,
// 25 % slower there than splitting).
constexpr int64_t kRowTaskMacs = 1 << 16;

// Runs fn(b0, b1) on the rows [0, r) of a step, `work` multiply-adds a row: split into row blocks over
// torch's intra-op threads when each gets at least kRowTaskMacs (the products inside then run on their
// thread), else on the calling thread (where a product may split its panels over the threads instead).
template <typename F>
void over_rows(int64_t r, int64_t work, const F& fn) {
  const int64_t threads = at::get_num_threads();
  const int64_t tasks = std::min<int64_t>({threads, r, r * work / kRowTaskMacs});
  if (tasks < 2 || at::in_parallel_region()) {
    fn(int64_t(0), r);
    return;
  }
  parallel_for_flushed(0, r, (r + tasks - 1) / tasks, fn);
}

// dh[j:r] += dy[t][j:r]: rows whose last valid step is t join the backward pass here.
template <typename T>
void join_rows(T* dh, const T* dy_t, int64_t from, int64_t to, int64_t R) {
  for (int64_t k = from * R; k < to * R; ++k) dh[k] += dy_t[k];
}

// Zoneout backward on the first r rows of a running gradient g (r x X): returns the part for the
// cell's new state, (1 - d) g, in `cell_part`, and d g in `carry`.
template <typename T>
void zoneout_split(const T* g, const Zoneout<T>& zo, int64_t offset, int64_t n, T* cell_part, T* carry) {
  constexpr int64_t W = Vec<T>::size();
  for (int64_t j = 0; j < n; j += W) {
    const int64_t m = std::min(W, n - j);
    const Vec<T> gv = Vec<T>::loadu(g + j, m);
    const Vec<T> c = gv * zo.at(offset + j, m);
    c.store(carry + j, m);
    (gv - c).store(cell_part + j, m);
  }
}

// What the recurrent product reads at step t: h_{t-1} of rows [b0, b1) (width R) times the
// recurrent-dropout mask, written to Hin[t]; h_prev itself without a mask. Returns row 0's address.
template <typename T>
const T* recurrent_input(const T* h_prev, const T* mask, int64_t t, int64_t b0, int64_t b1, int64_t B, int64_t R,
                         T* Hin) {
  if (!mask) return h_prev;
  T* hin = Hin + t * B * R;
  for (int64_t k = b0 * R; k < b1 * R; ++k) hin[k] = h_prev[k] * mask[k];
  return hin;
}

// The start of backward step t (of rows_at.size() steps) on the running gradient dH (B x R): the rows
// whose last valid step is t join with d_y[t]; returns dL/dh~_t of the rows_at[t] running rows, which
// is dH itself or, with zoneout, (1 - d) dH in `cell_part` (d dH goes to `carry`); nullptr when no
// row runs at t.
template <typename T>
const T* begin_backward_step(int64_t t, const std::vector<int64_t>& rows_at, const T* DY, int64_t B, int64_t R,
                             T* dH, const Zoneout<T>& zo, T* cell_part, T* carry) {
  const int64_t r = rows_at[t];
  const int64_t joining = t + 1 == static_cast<int64_t>(rows_at.size()) ? 0 : rows_at[t + 1];
  if (joining < r) join_rows(dH, DY + t * B * R, joining, r, R);
  if (r == 0) return nullptr;
  if (!zo.on) return dH;
  zoneout_split(dH, zo, t * B * R, r * R, cell_part, carry);
  return cell_part;
}

// dh[b0:b1] = base + (d_pre W) [* mask] on rows [b0, b1) (row 0's addresses given), base = dy[t-1]
// (t > 0) + carry (zoneout), or 0; `back` is the product d_pre W (rows x K).
template <typename T>
void recurrent_input_grad(int64_t b0, int64_t b1, int64_t K, const T* d_pre, int64_t ld_pre, const Product<T>& back,
                          const T* mask, const T* dy_prev, const T* carry, T* dh, std::vector<T>& scratch) {
  const int64_t n = (b1 - b0) * K, o = b0 * K;
  for (int64_t k = o; k < o + n; ++k) dh[k] = (dy_prev ? dy_prev[k] : T(0)) + (carry ? carry[k] : T(0));
  if (!mask) {
    back(b1 - b0, d_pre + b0 * ld_pre, ld_pre, T(1), dh + o, K);
    return;
  }
  scratch.resize(n);
  back(b1 - b0, d_pre + b0 * ld_pre, ld_pre, T(0), scratch.data(), K);
  for (int64_t k = 0; k < n; ++k) dh[o + k] += scratch[k] * mask[o + k];
}

}  // namespace rnnkit_native
