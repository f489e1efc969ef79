// rnnkit: the per-step loops of the BPTT kernels (kernels/lstm.py, gru.py, simple.py) in C++ for CPU.
//
// The same equations as the torch loops they replace (see the docstrings of those files), with the
// work arranged for a CPU: one BLAS call per product and vectorised passes over the pointwise math,
// no tensor created per step. The forward loop also writes the factors of the backward pass (P, Q,
// K, Fe, ...), which the torch engine computes for all steps after its loop, while the gate values
// are in registers; the backward loop accumulates the gradients of the vector parameters (peepholes,
// layer-norm gains and shifts, b_hh of the GRU) as it goes. The matrix gradients stay in Python (one
// GEMM over all steps). Layout: time-major contiguous buffers (T, B, X); at step t the first rows[t]
// rows are active (the batch is sorted by length).
#include <torch/extension.h>
#include <ATen/cpu/vec/vec.h>

#include <cmath>
#include <cstring>
#include <vector>

using at::Tensor;
using OptTensor = std::optional<Tensor>;

extern "C" {
void sgemm_(const char*, const char*, const int*, const int*, const int*, const float*, const float*,
            const int*, const float*, const int*, const float*, float*, const int*);
void dgemm_(const char*, const char*, const int*, const int*, const int*, const double*, const double*,
            const int*, const double*, const int*, const double*, double*, const int*);
}

namespace {

constexpr double kEps = 1e-5;  // layer-norm epsilon, as rnnkit.cells.base.LAYER_NORM_EPS

void gemm(char ta, char tb, int m, int n, int k, const float* a, int lda, const float* b, int ldb, float beta,
          float* c, int ldc) {
  const float one = 1.0f;
  sgemm_(&ta, &tb, &m, &n, &k, &one, a, &lda, b, &ldb, &beta, c, &ldc);
}
void gemm(char ta, char tb, int m, int n, int k, const double* a, int lda, const double* b, int ldb, double beta,
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
Tensor onednn_linear(const Tensor& x, const Tensor& packed) {
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

// One recurrent product, out (rows x n) = beta out + x (rows x k) op(W): op(W) = W^T for a weight
// W (n x k), or W itself for W (k x n) (`transposed`, the backward products). With a packed weight
// (op(W)^T packed as an n x k linear weight) it runs through oneDNN, else through BLAS.
template <typename T>
struct Product {
  const T* w = nullptr;
  int64_t n = 0, k = 0, ldw = 0;
  bool transposed = false;
  const Tensor* packed = nullptr;

  void operator()(int64_t rows, const T* x, int64_t ldx, T beta, T* out, int64_t ldo) const {
    if (rows == 0) return;
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
  return product;
}

template <typename T>
using Vec = at::vec::Vectorized<T>;

// Activations by id, in the order of kernels/native.py ACTIVATION_IDS. tanh is computed from one
// exponential, 1 - 2 / (1 + e^{2x}), a few times faster than SLEEF's tanh; its error is absolute,
// at most about one unit in the last place of 1 (1.2e-7 in float32, 2.2e-16 in float64).
template <typename T>
inline Vec<T> activate(int64_t kind, const Vec<T>& x) {
  switch (kind) {
    case 0: return Vec<T>(T(1)) - Vec<T>(T(2)) / (Vec<T>(T(1)) + (x + x).exp());
    case 1: return (Vec<T>(T(1)) + x.neg().exp()).reciprocal();
    case 2: return at::vec::minimum(at::vec::maximum(x + Vec<T>(T(3)), Vec<T>(T(0))), Vec<T>(T(6))) / Vec<T>(T(6));
    case 3: return at::vec::maximum(x, Vec<T>(T(0)));
    case 4: return x;
    default: return x / (Vec<T>(T(1)) + x.abs());
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
inline Vec<T> derivative(int64_t kind, const Vec<T>& y) {
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
inline T lane_sum(const Vec<T>& v) {
  __at_align__ T lanes[Vec<T>::size()];
  v.store(lanes);
  T total = T(0);
  for (int64_t k = 0; k < Vec<T>::size(); ++k) total += lanes[k];
  return total;
}

// sum_j a[j] (b null) or sum_j a[j] b[j], for j < n: vector lanes, then the scalar tail.
template <typename T>
inline T dot(const T* a, const T* b, int64_t n) {
  constexpr int64_t W = Vec<T>::size();
  Vec<T> acc(T(0));
  int64_t j = 0;
  for (; j + W <= n; j += W) acc = acc + (b ? Vec<T>::loadu(a + j) * Vec<T>::loadu(b + j) : Vec<T>::loadu(a + j));
  T total = lane_sum(acc);
  for (; j < n; ++j) total += b ? a[j] * b[j] : a[j];
  return total;
}

// Sums over rows and steps, such as a parameter vector's gradient: a step's rows are added in T with
// vector lanes, and the steps' totals in double (flush() after each step).
template <typename T>
struct Sums {
  std::vector<double> total;
  std::vector<T> step;
  explicit Sums(int64_t n) : total(n), step(n) {}

  // step[offset + j] += a[j] * c[j] (c null: a[j]) for j < n.
  void add(const T* a, const T* c, int64_t n, int64_t offset = 0) {
    constexpr int64_t W = Vec<T>::size();
    T* s = step.data() + offset;
    for (int64_t j = 0; j < n; j += W) {
      const int64_t m = std::min(W, n - j);
      const Vec<T> v = c ? Vec<T>::loadu(a + j, m) * Vec<T>::loadu(c + j, m) : Vec<T>::loadu(a + j, m);
      (Vec<T>::loadu(s + j, m) + v).store(s + j, m);
    }
  }
  void flush() {
    for (size_t j = 0; j < step.size(); ++j) {
      total[j] += step[j];
      step[j] = T(0);
    }
  }
  void store(const OptTensor& out) const {
    if (!out.has_value()) return;
    T* p = out->data_ptr<T>();
    for (size_t j = 0; j < total.size(); ++j) p[j] = T(total[j]);
  }
};

// Layer norm of one row in `blocks` blocks of H: out = LN(z) * w + shift (w, shift optional: 1, 0),
// keeping mean and rstd per block in stats[2 * block + {0, 1}] (biased variance, eps 1e-5).
template <typename T>
void layer_norm_row(const T* z, int64_t blocks, int64_t H, const T* w, const T* shift, T* out, T* stats) {
  constexpr int64_t W = Vec<T>::size();
  for (int64_t k = 0; k < blocks; ++k) {
    const T* zk = z + k * H;
    const T mean = dot<T>(zk, nullptr, H) / T(H);
    Vec<T> acc(T(0));
    int64_t j = 0;
    for (; j + W <= H; j += W) {
      const Vec<T> d = Vec<T>::loadu(zk + j) - Vec<T>(mean);
      acc = acc + d * d;
    }
    T var = lane_sum(acc);
    for (; j < H; ++j) var += (zk[j] - mean) * (zk[j] - mean);
    const T rstd = T(1) / std::sqrt(var / T(H) + T(kEps));
    stats[2 * k] = mean;
    stats[2 * k + 1] = rstd;
    for (j = 0; j < H; j += W) {
      const int64_t m = std::min(W, H - j);
      Vec<T> n = (Vec<T>::loadu(zk + j, m) - Vec<T>(mean)) * Vec<T>(rstd);
      if (w) n = n * Vec<T>::loadu(w + k * H + j, m);
      if (shift) n = n + Vec<T>::loadu(shift + k * H + j, m);
      n.store(out + k * H + j, m);
    }
  }
}

// Backward of layer_norm_row per block given g_raw = dL/d(out): with g = g_raw * w and n = (z - mean) rstd,
// dz = rstd (g - mean(g) - n mean(g n)) (written, or added when `accumulate`); d_w += g_raw n and
// d_shift += g_raw when given (at the block's offset).
template <typename T>
void layer_norm_row_backward(const T* g_raw, const T* w, const T* z, int64_t blocks, int64_t H, const T* stats,
                             T* dz, bool accumulate, Sums<T>* d_w, Sums<T>* d_shift, T* scratch,
                             int64_t sums_offset = 0) {
  constexpr int64_t W = Vec<T>::size();
  for (int64_t k = 0; k < blocks; ++k) {
    const int64_t o = k * H;
    const Vec<T> mean(stats[2 * k]), rstd(stats[2 * k + 1]);
    T* g = scratch;                                                       // g = g_raw w, then n
    T* n = scratch + H;
    for (int64_t j = 0; j < H; j += W) {
      const int64_t m = std::min(W, H - j);
      const Vec<T> gr = Vec<T>::loadu(g_raw + o + j, m);
      (w ? gr * Vec<T>::loadu(w + o + j, m) : gr).store(g + j, m);
      ((Vec<T>::loadu(z + o + j, m) - mean) * rstd).store(n + j, m);
    }
    const T mean_g = dot<T>(g, nullptr, H) / T(H), mean_gn = dot<T>(g, n, H) / T(H);
    if (d_w) d_w->add(g_raw + o, n, H, sums_offset + o);
    if (d_shift) d_shift->add(g_raw + o, nullptr, H, sums_offset + o);
    for (int64_t j = 0; j < H; j += W) {
      const int64_t m = std::min(W, H - j);
      Vec<T> d = rstd * (Vec<T>::loadu(g + j, m) - Vec<T>(mean_g) - Vec<T>::loadu(n + j, m) * Vec<T>(mean_gn));
      if (accumulate) d = d + Vec<T>::loadu(dz + o + j, m);
      d.store(dz + o + j, m);
    }
  }
}

// The input side of every pre-activation at step t: a_in[t] as given, or, with the input-side layer
// norm, LNb(z_x[t]) ln_ih + bias computed here from z_x = x W_ih^T (and its backward: dz_x[t],
// with the gradients of ln_ih and the bias summed).
template <typename T>
struct InputSide {
  const T* a_in = nullptr;     // (T, B, N): a_in, or z_x with layer norm
  const T* ln = nullptr;       // ln_ih_weight (N) or null: no layer norm
  const T* bias = nullptr;     // (N) or null
  T* stats = nullptr;          // (T, B, N / H, 2) with layer norm
  int64_t B = 0, N = 0, H = 0;

  const T* rows(int64_t t, int64_t r, std::vector<T>& scratch) const {
    const T* src = a_in + t * B * N;
    if (!ln) return src;
    for (int64_t b = 0; b < r; ++b)
      layer_norm_row(src + b * N, N / H, H, ln, bias, scratch.data() + b * N, stats + (t * B + b) * (N / H) * 2);
    return scratch.data();
  }

  // dz_x[t] (rows of dzx) from the pre-activation gradients d_pre (rows of width N, stride ld).
  void backward(int64_t t, int64_t r, const T* d_pre, int64_t ld, T* dzx, Sums<T>& d_ln, Sums<T>& d_bias,
                T* ln_scratch) const {
    for (int64_t b = 0; b < r; ++b) {
      const int64_t row = t * B + b;
      layer_norm_row_backward(d_pre + b * ld, ln, a_in + row * N, N / H, H, stats + row * (N / H) * 2,
                              dzx + row * N, false, &d_ln, bias ? &d_bias : static_cast<Sums<T>*>(nullptr),
                              ln_scratch);
    }
  }
};

template <typename T>
InputSide<T> input_side(const Tensor& a_in, const OptTensor& ln, const OptTensor& bias, const OptTensor& stats,
                        int64_t H) {
  InputSide<T> side;
  side.a_in = a_in.data_ptr<T>();
  side.ln = ptr_or_null<T>(ln);
  side.bias = ptr_or_null<T>(bias);
  side.stats = mut_or_null<T>(stats);
  side.B = a_in.size(1);
  side.N = a_in.size(2);
  side.H = H;
  return side;
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

// dh[:r] = base + (d_pre W) [* mask], base = dy[t-1] (t > 0) + carry (zoneout), or 0; `back` is the
// product d_pre W (r x K).
template <typename T>
void recurrent_input_grad(int64_t r, int64_t K, const T* d_pre, int64_t ld_pre, const Product<T>& back,
                          const T* mask, const T* dy_prev, const T* carry, T* dh, std::vector<T>& scratch) {
  const int64_t n = r * K;
  for (int64_t k = 0; k < n; ++k) dh[k] = (dy_prev ? dy_prev[k] : T(0)) + (carry ? carry[k] : T(0));
  if (!mask) {
    back(r, d_pre, ld_pre, T(1), dh, K);
    return;
  }
  scratch.resize(n);
  back(r, d_pre, ld_pre, T(0), scratch.data(), K);
  for (int64_t k = 0; k < n; ++k) dh[k] += scratch[k] * mask[k];
}

// ------------------------------------------------------------------------------------------------ LSTM

template <typename T>
struct LSTMArgs {
  const T *ln_hh, *w_ci, *w_cf, *w_co, *ln_cw, *ln_cb, *w_hr, *mask;
  bool has_forget, coupled;
  int64_t sigma, phi;
  Product<T> hh, hr;            // forward: h_in W_hh^T, m W_hr^T; backward: d_pre W_hh, dh~ W_hr
};

template <typename T>
void lstm_forward_impl(const Tensor& a_in, const InputSide<T>& input, const Tensor& h0, const Tensor& c0,
                       const LSTMArgs<T>& p,
                       const Zoneout<T>& zh, const Zoneout<T>& zc, const std::vector<int64_t>& rows_at, T* Y, T* C,
                       T* Cn, T* Mall, T* Hin, T* Z, T* HS, T* CS, T* Pp, T* Qp, T* Kp, T* Fp) {
  const int64_t Tn = a_in.size(0), B = a_in.size(1), GH = a_in.size(2);
  const int64_t R = h0.size(1), H = c0.size(1), G = GH / H, NP = G - 1;
  std::vector<T> A(B * GH), phi_row(H), h_new(p.w_hr && zh.on ? B * R : 0), a_rows(input.ln ? B * GH : 0);
  constexpr int64_t Wd = Vec<T>::size();
  const Vec<T> one(T(1));
  for (int64_t t = 0; t < Tn; ++t) {
    const int64_t r = rows_at[t];
    if (r == 0) continue;
    const T* h_prev = t == 0 ? h0.data_ptr<T>() : Y + (t - 1) * B * R;
    const T* c_prev = t == 0 ? c0.data_ptr<T>() : C + (t - 1) * B * H;
    const T* h_in = h_prev;
    if (p.mask) {
      T* hin = Hin + t * B * R;
      for (int64_t k = 0; k < r * R; ++k) hin[k] = h_prev[k] * p.mask[k];
      h_in = hin;
    }
    const T* a_t = input.rows(t, r, a_rows);                            // (r, G*H)
    if (!p.ln_hh) {
      std::memcpy(A.data(), a_t, sizeof(T) * r * GH);
      p.hh(r, h_in, R, T(1), A.data(), GH);                              // A = a_t + h_in W_hh^T
    } else {
      T* z = Z + t * B * GH;
      p.hh(r, h_in, R, T(0), z, GH);                                     // z = h_in W_hh^T
      for (int64_t b = 0; b < r; ++b)                                    // A = a_t + LNb(z) ln_hh
        layer_norm_row(z + b * GH, G, H, p.ln_hh, a_t + b * GH, A.data() + b * GH, HS + (t * B + b) * G * 2);
    }
    for (int64_t b = 0; b < r; ++b) {
      const int64_t row = t * B + b;
      T* Ab = A.data() + b * GH;
      const T* cp = c_prev + b * H;
      T* c = Cn + row * H;
      T* P_row = Pp ? Pp + row * NP * H : nullptr;
      for (int64_t j = 0; j < H; j += Wd) {                              // pass 1: i, f, g, c~ and P, Fe
        const int64_t m = std::min(Wd, H - j);
        const Vec<T> cpv = Vec<T>::loadu(cp + j, m);
        Vec<T> ai = Vec<T>::loadu(Ab + j, m);
        if (p.w_ci) ai = ai + Vec<T>::loadu(p.w_ci + j, m) * cpv;
        const Vec<T> i = activate(p.sigma, ai);
        const Vec<T> g = activate(p.phi, Vec<T>::loadu(Ab + (G - 2) * H + j, m));
        Vec<T> cv, f;
        if (p.has_forget) {
          Vec<T> af = Vec<T>::loadu(Ab + H + j, m);
          if (p.w_cf) af = af + Vec<T>::loadu(p.w_cf + j, m) * cpv;
          f = activate(p.sigma, af);
          cv = f * cpv + i * g;
        } else if (p.coupled) {
          cv = cpv + i * (g - cpv);
        } else {
          cv = cpv + i * g;
        }
        cv.store(c + j, m);
        if (!P_row) continue;
        const Vec<T> p_i = derivative(p.sigma, i) * (p.coupled ? g - cpv : g);       // σ'(i) g
        p_i.store(P_row + j, m);
        Vec<T> fe = p.has_forget ? f : (p.coupled ? one - i : one);
        if (p.has_forget) {
          const Vec<T> p_f = derivative(p.sigma, f) * cpv;                           // σ'(f) c_{t-1}
          p_f.store(P_row + H + j, m);
          if (p.w_cf) fe = fe + p_f * Vec<T>::loadu(p.w_cf + j, m);
        }
        (derivative(p.phi, g) * i).store(P_row + (NP - 1) * H + j, m);              // φ'(g) i
        if (p.w_ci) fe = fe + p_i * Vec<T>::loadu(p.w_ci + j, m);
        if (Fp) fe.store(Fp + row * H + j, m);
      }
      if (p.ln_cw) layer_norm_row(c, 1, H, p.ln_cw, p.ln_cb, phi_row.data(), CS + row * 2);   // cn
      T* out = p.w_hr ? Mall + row * H : Y + row * R;
      const T* hp = h_prev + b * R;
      for (int64_t j = 0; j < H; j += Wd) {                              // pass 2: o, φ(cn), h or m, Q, K
        const int64_t m = std::min(Wd, H - j);
        const Vec<T> cv = Vec<T>::loadu(c + j, m);
        Vec<T> ao = Vec<T>::loadu(Ab + (G - 1) * H + j, m);
        if (p.w_co) ao = ao + Vec<T>::loadu(p.w_co + j, m) * cv;
        const Vec<T> o = activate(p.sigma, ao);
        const Vec<T> pc = activate(p.phi, p.ln_cw ? Vec<T>::loadu(phi_row.data() + j, m) : cv);
        Vec<T> h = o * pc;
        if (!p.w_hr && zh.on) h = h + zh.at(row * R + j, m) * (Vec<T>::loadu(hp + j, m) - h);
        h.store(out + j, m);
        if (zc.on) (cv + zc.at(row * H + j, m) * (Vec<T>::loadu(c_prev + b * H + j, m) - cv)).store(C + row * H + j, m);
        if (Qp) {
          (derivative(p.sigma, o) * pc).store(Qp + row * H + j, m);                  // σ'(o) φ(cn)
          (o * derivative(p.phi, pc)).store(Kp + row * H + j, m);                   // o φ'(cn)
        }
      }
    }
    if (p.w_hr) {                                                         // h~ = m W_hr^T
      T* y_t = Y + t * B * R;
      T* target = zh.on ? h_new.data() : y_t;
      p.hr(r, Mall + t * B * H, H, T(0), target, R);
      if (zh.on) {
        for (int64_t k = 0; k < r * R; ++k) {
          const T d = zh.draws ? zh.draws[t * B * R + k] : zh.p;
          y_t[k] = target[k] + d * (h_prev[k] - target[k]);
        }
      }
    }
  }
}

template <typename T>
void lstm_backward_impl(const InputSide<T>& input, T* dZX, Sums<T>& d_ln_ih, Sums<T>& d_bias, const Tensor& P,
                        const Tensor& Q, const Tensor& K, const OptTensor& Fe, const T* C,
                        const T* c0, const T* Cn, const T* Z, const T* HS, const T* CS, const LSTMArgs<T>& p,
                        const Zoneout<T>& zh, const Zoneout<T>& zc, const std::vector<int64_t>& rows_at,
                        const Tensor& d_y, T* dH, T* dC, T* dAp, T* dZ, T* dHn, Sums<T>& d_ci, Sums<T>& d_cf,
                        Sums<T>& d_co, Sums<T>& d_ln_hh, Sums<T>& d_ln_cw, Sums<T>& d_ln_cb) {
  const int64_t Tn = d_y.size(0), B = d_y.size(1), R = d_y.size(2);
  const int64_t NP = P.size(2), G = NP + 1, H = P.size(3), GH = G * H;
  const T *Pp = P.data_ptr<T>(), *Qp = Q.data_ptr<T>(), *Kp = K.data_ptr<T>(), *Fp = ptr_or_null<T>(Fe);
  const T* DY = d_y.data_ptr<T>();
  std::vector<T> dh_cell(B * R), carry_h(B * R), carry_c(B * H), dm_buf(B * H), dcn(H), ln_scratch(2 * H), scratch;
  constexpr int64_t Wd = Vec<T>::size();
  for (int64_t t = Tn - 1; t >= 0; --t) {
    const int64_t r = rows_at[t];
    const int64_t joining = t == Tn - 1 ? 0 : rows_at[t + 1];
    if (joining < r) join_rows(dH, DY + t * B * R, joining, r, R);
    if (r == 0) continue;
    const T* dht = dH;                                                    // dL/dh~_t
    if (zh.on) {
      zoneout_split(dH, zh, t * B * R, r * R, dh_cell.data(), carry_h.data());
      dht = dh_cell.data();
    }
    if (zc.on) zoneout_split(dC, zc, t * B * H, r * H, dC, carry_c.data());   // dC <- dL/dc~
    const T* dm = dht;
    if (p.w_hr) {
      std::memcpy(dHn + t * B * R, dht, sizeof(T) * r * R);
      p.hr(r, dht, R, T(0), dm_buf.data(), H);                           // dm = dh~ W_hr
      dm = dm_buf.data();
    }
    T* dA_t = dAp + t * B * GH;
    const T* c_prev = t == 0 ? c0 : C + (t - 1) * B * H;
    for (int64_t b = 0; b < r; ++b) {
      const int64_t row = t * B + b;
      const T* dmb = dm + b * H;
      T* dcb = dC + b * H;
      T* dAb = dA_t + b * GH;
      if (p.ln_cw) {                                                      // dcn = dm K; dc~ += LN backward
        for (int64_t j = 0; j < H; ++j) dcn[j] = dmb[j] * Kp[row * H + j];
        layer_norm_row_backward(dcn.data(), p.ln_cw, Cn + row * H, 1, H, CS + row * 2, dcb, true, &d_ln_cw,
                                &d_ln_cb, ln_scratch.data());
      }
      for (int64_t j = 0; j < H; j += Wd) {
        const int64_t m = std::min(Wd, H - j);
        const Vec<T> dmv = Vec<T>::loadu(dmb + j, m);
        const Vec<T> dao = dmv * Vec<T>::loadu(Qp + row * H + j, m);   // dA_o = dm Q
        dao.store(dAb + (G - 1) * H + j, m);
        Vec<T> dcv = Vec<T>::loadu(dcb + j, m);
        if (!p.ln_cw) dcv = dcv + dmv * Vec<T>::loadu(Kp + row * H + j, m);  // dc~ += dm K
        if (p.w_co) dcv = dcv + dao * Vec<T>::loadu(p.w_co + j, m);      // the o peephole reads c~
        for (int64_t k = 0; k < NP; ++k)                                 // dA_{i,f,g} = dc~ P
          (dcv * Vec<T>::loadu(Pp + (row * NP + k) * H + j, m)).store(dAb + k * H + j, m);
        if (Fp) dcv = dcv * Vec<T>::loadu(Fp + row * H + j, m);          // dc_{t-1} = dc~ Fe
        if (zc.on) dcv = dcv + Vec<T>::loadu(carry_c.data() + b * H + j, m);
        dcv.store(dcb + j, m);
      }
    }
    if (input.ln) input.backward(t, r, dA_t, GH, dZX, d_ln_ih, d_bias, ln_scratch.data());
    for (int64_t b = 0; b < r; ++b) {                                     // the peepholes' gradients
      if (p.w_ci) d_ci.add(dA_t + b * GH, c_prev + b * H, H);             // dL/dw_ci = sum dA_i c_{t-1}
      if (p.w_cf) d_cf.add(dA_t + b * GH + H, c_prev + b * H, H);         // dL/dw_cf = sum dA_f c_{t-1}
      if (p.w_co) d_co.add(dA_t + b * GH + (G - 1) * H, Cn + (t * B + b) * H, H);   // sum dA_o c~
    }
    const T* d_pre = dA_t;
    if (p.ln_hh) {                                                        // through LNb(h_in W_hh^T) ln_hh
      T* dz = dZ + t * B * GH;
      for (int64_t b = 0; b < r; ++b) {
        const int64_t row = t * B + b;
        layer_norm_row_backward(dA_t + b * GH, p.ln_hh, Z + row * GH, G, H, HS + row * G * 2, dz + b * GH, false,
                                &d_ln_hh, static_cast<Sums<T>*>(nullptr), ln_scratch.data());
      }
      d_pre = dz;
    }
    recurrent_input_grad(r, R, d_pre, GH, p.hh, p.mask, t > 0 ? DY + (t - 1) * B * R : nullptr,
                         zh.on ? carry_h.data() : nullptr, dH, scratch);
    for (Sums<T>* sums : {&d_ci, &d_cf, &d_co, &d_ln_hh, &d_ln_cw, &d_ln_cb, &d_ln_ih, &d_bias}) sums->flush();
  }
}

// ------------------------------------------------------------------------------------------------ GRU

template <typename T>
struct GRUArgs {
  const T *b_hh, *ln_hh, *mask;
  bool reset_after;
  int64_t sigma, phi;
  Product<T> hh, n;             // reset_after: all rows of W_hh; else the r, z rows and the n rows
};

template <typename T>
void gru_forward_impl(const Tensor& gi, const InputSide<T>& input, const Tensor& h0, const GRUArgs<T>& p,
                      const Zoneout<T>& zh,
                      const std::vector<int64_t>& rows_at, T* S, T* Y, T* Hin, T* Z, T* RH, T* ST, T* Php, T* Pip) {
  const int64_t Tn = gi.size(0), B = gi.size(1), H3 = gi.size(2), H = H3 / 3;
  std::vector<T> gh(p.reset_after ? B * H3 : 0), gi_rows(input.ln ? B * H3 : 0);
  constexpr int64_t Wd = Vec<T>::size();
  const Vec<T> one(T(1));
  for (int64_t t = 0; t < Tn; ++t) {
    const int64_t r = rows_at[t];
    if (r == 0) continue;
    const T* h_prev = t == 0 ? h0.data_ptr<T>() : Y + (t - 1) * B * H;
    const T* h_in = h_prev;
    if (p.mask) {
      T* hin = Hin + t * B * H;
      for (int64_t k = 0; k < r * H; ++k) hin[k] = h_prev[k] * p.mask[k];
      h_in = hin;
    }
    T* S_t = S + t * B * H3;
    const T* gi_t = input.rows(t, r, gi_rows);                          // (r, 3H)
    T* z_t = Z ? Z + t * B * H3 : nullptr;
    if (p.reset_after) {                                                  // gh = h_in W^T + b_hh [LN]
      if (!p.ln_hh) {
        for (int64_t b = 0; b < r; ++b)
          for (int64_t k = 0; k < H3; ++k) gh[b * H3 + k] = p.b_hh ? p.b_hh[k] : T(0);
        p.hh(r, h_in, H, T(1), gh.data(), H3);
      } else {
        p.hh(r, h_in, H, T(0), z_t, H3);
        for (int64_t b = 0; b < r; ++b)
          layer_norm_row(z_t + b * H3, 3, H, p.ln_hh, p.b_hh, gh.data() + b * H3, ST + (t * B + b) * 6);
      }
      for (int64_t b = 0; b < r; ++b) {
        const int64_t row = t * B + b;
        T* s = S_t + b * H3;
        const T *g = gi_t + b * H3, *hh = gh.data() + b * H3, *hp = h_prev + b * H;
        for (int64_t j = 0; j < H; j += Wd) {
          const int64_t m = std::min(Wd, H - j);
          const Vec<T> ghn = Vec<T>::loadu(hh + 2 * H + j, m);
          const Vec<T> rv = activate(p.sigma, Vec<T>::loadu(g + j, m) + Vec<T>::loadu(hh + j, m));
          const Vec<T> zv = activate(p.sigma, Vec<T>::loadu(g + H + j, m) + Vec<T>::loadu(hh + H + j, m));
          const Vec<T> nv = activate(p.phi, Vec<T>::loadu(g + 2 * H + j, m) + rv * ghn);
          rv.store(s + j, m);
          zv.store(s + H + j, m);
          nv.store(s + 2 * H + j, m);
          const Vec<T> hpv = Vec<T>::loadu(hp + j, m);
          Vec<T> h = nv + zv * (hpv - nv);
          if (zh.on) h = h + zh.at(row * H + j, m) * (hpv - h);
          h.store(Y + row * H + j, m);
          if (!Php) continue;
          const Vec<T> pn = (one - zv) * derivative(p.phi, nv);                       // (1 - z) φ'(n)
          (pn * ghn * derivative(p.sigma, rv)).store(Php + row * 3 * H + j, m);      // Pr
          ((hpv - nv) * derivative(p.sigma, zv)).store(Php + row * 3 * H + H + j, m);  // Pz
          (pn * rv).store(Php + row * 3 * H + 2 * H + j, m);                        // Pn r
          pn.store(Pip + row * H + j, m);
        }
      }
    } else {
      if (!p.ln_hh) {                                                     // r, z pre-activations
        for (int64_t b = 0; b < r; ++b) std::memcpy(S_t + b * H3, gi_t + b * H3, sizeof(T) * 2 * H);
        p.hh(r, h_in, H, T(1), S_t, H3);
      } else {
        p.hh(r, h_in, H, T(0), z_t, H3);
        for (int64_t b = 0; b < r; ++b)
          layer_norm_row(z_t + b * H3, 2, H, p.ln_hh, gi_t + b * H3, S_t + b * H3, ST + (t * B + b) * 6);
      }
      T* rh = RH + t * B * H;
      for (int64_t b = 0; b < r; ++b) {
        const int64_t row = t * B + b;
        activate_inplace(p.sigma, S_t + b * H3, 2 * H);
        for (int64_t j = 0; j < H; j += Wd) {                            // r h_in, and σ'(r) h_in
          const int64_t m = std::min(Wd, H - j);
          const Vec<T> rv = Vec<T>::loadu(S_t + b * H3 + j, m), hin = Vec<T>::loadu(h_in + b * H + j, m);
          (rv * hin).store(rh + b * H + j, m);
          if (Php) (derivative(p.sigma, rv) * hin).store(Php + row * H + j, m);
        }
      }
      if (!p.ln_hh) {                                                     // n pre-activation
        for (int64_t b = 0; b < r; ++b) std::memcpy(S_t + b * H3 + 2 * H, gi_t + b * H3 + 2 * H, sizeof(T) * H);
        p.n(r, rh, H, T(1), S_t + 2 * H, H3);
      } else {
        p.n(r, rh, H, T(0), z_t + 2 * H, H3);
        for (int64_t b = 0; b < r; ++b)
          layer_norm_row(z_t + b * H3 + 2 * H, 1, H, p.ln_hh + 2 * H, gi_t + b * H3 + 2 * H, S_t + b * H3 + 2 * H,
                         ST + (t * B + b) * 6 + 4);
      }
      for (int64_t b = 0; b < r; ++b) {
        const int64_t row = t * B + b;
        T* s = S_t + b * H3;
        const T* hp = h_prev + b * H;
        for (int64_t j = 0; j < H; j += Wd) {
          const int64_t m = std::min(Wd, H - j);
          const Vec<T> nv = activate(p.phi, Vec<T>::loadu(s + 2 * H + j, m));
          nv.store(s + 2 * H + j, m);
          const Vec<T> zv = Vec<T>::loadu(s + H + j, m), hpv = Vec<T>::loadu(hp + j, m);
          Vec<T> h = nv + zv * (hpv - nv);
          if (zh.on) h = h + zh.at(row * H + j, m) * (hpv - h);
          h.store(Y + row * H + j, m);
          if (!Pip) continue;
          ((hpv - nv) * derivative(p.sigma, zv)).store(Pip + row * 2 * H + j, m);            // Pz
          ((one - zv) * derivative(p.phi, nv)).store(Pip + row * 2 * H + H + j, m);          // Pn
        }
      }
    }
  }
}

template <typename T>
void gru_backward_impl(const InputSide<T>& input, T* dZX, Sums<T>& d_ln_ih, Sums<T>& d_bias, const Tensor& P_hh,
                       const Tensor& P_in, const T* S, const T* Z, const T* ST,
                       const GRUArgs<T>& p, const Zoneout<T>& zh, const std::vector<int64_t>& rows_at,
                       const Tensor& d_y, T* dH, T* dGI, T* dGH, T* dZ, Sums<T>& d_b_hh, Sums<T>& d_ln_hh) {
  const int64_t Tn = d_y.size(0), B = d_y.size(1), H = d_y.size(2), H3 = 3 * H;
  const T *Ph = P_hh.data_ptr<T>(), *Pi = P_in.data_ptr<T>(), *DY = d_y.data_ptr<T>();
  std::vector<T> dh_cell(B * H), carry(B * H), base(B * H), d_rh(B * H), ln_scratch(2 * H), scratch;
  constexpr int64_t Wd = Vec<T>::size();
  for (int64_t t = Tn - 1; t >= 0; --t) {
    const int64_t r = rows_at[t];
    const int64_t joining = t == Tn - 1 ? 0 : rows_at[t + 1];
    if (joining < r) join_rows(dH, DY + t * B * H, joining, r, H);
    if (r == 0) continue;
    const T* dht = dH;
    if (zh.on) {
      zoneout_split(dH, zh, t * B * H, r * H, dh_cell.data(), carry.data());
      dht = dh_cell.data();
    }
    T* dgi = dGI + t * B * H3;
    for (int64_t b = 0; b < r; ++b) {                                     // base = dh~ z + dy_{t-1} + carry
      const int64_t row = t * B + b;
      for (int64_t j = 0; j < H; ++j) {
        base[b * H + j] = dht[b * H + j] * S[row * H3 + H + j] + (t > 0 ? DY[(t - 1) * B * H + b * H + j] : T(0)) +
                          (zh.on ? carry[b * H + j] : T(0));
      }
    }
    if (p.reset_after) {
      T* dgh = dGH + t * B * H3;
      for (int64_t b = 0; b < r; ++b) {
        const int64_t row = t * B + b;
        for (int64_t j = 0; j < H; j += Wd) {
          const int64_t m = std::min(Wd, H - j);
          const Vec<T> d = Vec<T>::loadu(dht + b * H + j, m);
          for (int64_t k = 0; k < 3; ++k) {                               // dgh = dh~ [Pr, Pz, Pn r]
            const Vec<T> v = d * Vec<T>::loadu(Ph + (row * 3 + k) * H + j, m);
            v.store(dgh + b * H3 + k * H + j, m);
            if (k < 2) v.store(dgi + b * H3 + k * H + j, m);              // gi_rz and gh_rz enter alike
          }
          (d * Vec<T>::loadu(Pi + row * H + j, m)).store(dgi + b * H3 + 2 * H + j, m);   // dgi_n = dh~ Pn
        }
      }
      for (int64_t b = 0; b < r && p.b_hh; ++b) d_b_hh.add(dgh + b * H3, nullptr, H3);
      const T* d_pre = dgh;
      if (p.ln_hh) {
        T* dz = dZ + t * B * H3;
        for (int64_t b = 0; b < r; ++b)
          layer_norm_row_backward(dgh + b * H3, p.ln_hh, Z + (t * B + b) * H3, 3, H, ST + (t * B + b) * 6,
                                  dz + b * H3, false, &d_ln_hh, static_cast<Sums<T>*>(nullptr), ln_scratch.data());
        d_pre = dz;
      }
      recurrent_input_grad<T>(r, H, d_pre, H3, p.hh, p.mask, base.data(), nullptr, dH, scratch);
    } else {
      for (int64_t b = 0; b < r; ++b) {                                   // dgi_{z,n} = dh~ [Pz, Pn]
        const int64_t row = t * B + b;
        for (int64_t j = 0; j < H; j += Wd) {
          const int64_t m = std::min(Wd, H - j);
          const Vec<T> d = Vec<T>::loadu(dht + b * H + j, m);
          (d * Vec<T>::loadu(Pi + (row * 2) * H + j, m)).store(dgi + b * H3 + H + j, m);
          (d * Vec<T>::loadu(Pi + (row * 2 + 1) * H + j, m)).store(dgi + b * H3 + 2 * H + j, m);
        }
      }
      const T* d_n = dgi + 2 * H;
      T* dz = p.ln_hh ? dZ + t * B * H3 : nullptr;
      if (p.ln_hh) {
        for (int64_t b = 0; b < r; ++b)
          layer_norm_row_backward(dgi + b * H3 + 2 * H, p.ln_hh + 2 * H, Z + (t * B + b) * H3 + 2 * H, 1, H,
                                  ST + (t * B + b) * 6 + 4, dz + b * H3 + 2 * H, false, &d_ln_hh,
                                  static_cast<Sums<T>*>(nullptr), ln_scratch.data(), 2 * H);
        d_n = dz + 2 * H;
      }
      p.n(r, d_n, H3, T(0), d_rh.data(), H);                             // d(r h_in) = dgi_n W_n
      for (int64_t b = 0; b < r; ++b) {
        const int64_t row = t * B + b;
        for (int64_t j = 0; j < H; ++j) {
          dgi[b * H3 + j] = d_rh[b * H + j] * Ph[row * H + j];           // dgi_r = d(r h_in) σ'(r) h_in
          d_rh[b * H + j] *= S[row * H3 + j];                             // d(r h_in) r
        }
      }
      const T* d_rz = dgi;
      if (p.ln_hh) {
        for (int64_t b = 0; b < r; ++b)
          layer_norm_row_backward(dgi + b * H3, p.ln_hh, Z + (t * B + b) * H3, 2, H, ST + (t * B + b) * 6,
                                  dz + b * H3, false, &d_ln_hh, static_cast<Sums<T>*>(nullptr),
                                  ln_scratch.data());
        d_rz = dz;
      }
      p.hh(r, d_rz, H3, T(1), d_rh.data(), H);                           // dL/dh_in
      for (int64_t k = 0; k < r * H; ++k) dH[k] = base[k] + d_rh[k] * (p.mask ? p.mask[k] : T(1));
    }
    if (input.ln) input.backward(t, r, dgi, H3, dZX, d_ln_ih, d_bias, ln_scratch.data());
    for (Sums<T>* sums : {&d_b_hh, &d_ln_hh, &d_ln_ih, &d_bias}) sums->flush();
  }
}

// ------------------------------------------------------------------------------------------------ Elman

template <typename T>
void simple_forward_impl(const Tensor& a_in, const Tensor& h0, const Product<T>& hh, const T* M, const Zoneout<T>& zh,
                         int64_t f, const std::vector<int64_t>& rows_at, T* Y, T* Hin, T* Dp) {
  const int64_t Tn = a_in.size(0), B = a_in.size(1), H = a_in.size(2);
  const T* A_in = a_in.data_ptr<T>();
  std::vector<T> hn(B * H);
  constexpr int64_t Wd = Vec<T>::size();
  for (int64_t t = 0; t < Tn; ++t) {
    const int64_t r = rows_at[t];
    if (r == 0) continue;
    const T* h_prev = t == 0 ? h0.data_ptr<T>() : Y + (t - 1) * B * H;
    const T* h_in = h_prev;
    if (M) {
      T* hin = Hin + t * B * H;
      for (int64_t k = 0; k < r * H; ++k) hin[k] = h_prev[k] * M[k];
      h_in = hin;
    }
    std::memcpy(hn.data(), A_in + t * B * H, sizeof(T) * r * H);
    hh(r, h_in, H, T(1), hn.data(), H);                                 // a_t + h_in W^T
    for (int64_t k = 0; k < r * H; k += Wd) {
      const int64_t m = std::min(Wd, r * H - k);
      const Vec<T> h = activate(f, Vec<T>::loadu(hn.data() + k, m));
      if (Dp) derivative(f, h).store(Dp + t * B * H + k, m);             // D = f'(h~)
      const Vec<T> out = zh.on ? h + zh.at(t * B * H + k, m) * (Vec<T>::loadu(h_prev + k, m) - h) : h;
      out.store(Y + t * B * H + k, m);
    }
  }
}

template <typename T>
void simple_backward_impl(const Tensor& D, const Product<T>& hh, const T* M, const Zoneout<T>& zh,
                          const std::vector<int64_t>& rows_at, const Tensor& d_y, T* dH, T* dAp) {
  const int64_t Tn = d_y.size(0), B = d_y.size(1), H = d_y.size(2);
  const T *Dp = D.data_ptr<T>(), *DY = d_y.data_ptr<T>();
  std::vector<T> dh_cell(B * H), carry(B * H), scratch;
  for (int64_t t = Tn - 1; t >= 0; --t) {
    const int64_t r = rows_at[t];
    const int64_t joining = t == Tn - 1 ? 0 : rows_at[t + 1];
    if (joining < r) join_rows(dH, DY + t * B * H, joining, r, H);
    if (r == 0) continue;
    const T* dht = dH;
    if (zh.on) {
      zoneout_split(dH, zh, t * B * H, r * H, dh_cell.data(), carry.data());
      dht = dh_cell.data();
    }
    T* da = dAp + t * B * H;
    for (int64_t k = 0; k < r * H; ++k) da[k] = dht[k] * Dp[t * B * H + k];    // dA = dh~ f'(A)
    recurrent_input_grad(r, H, da, H, hh, M, t > 0 ? DY + (t - 1) * B * H : nullptr,
                         zh.on ? carry.data() : nullptr, dH, scratch);
  }
}

}  // namespace

// ------------------------------------------------------------------------------------------------ entry points

#define RNNKIT_DISPATCH(tensor, ...)                                                          \
  if ((tensor).scalar_type() == at::kDouble) {                                                \
    using scalar_t = double;                                                                  \
    __VA_ARGS__;                                                                              \
  } else {                                                                                    \
    TORCH_CHECK((tensor).scalar_type() == at::kFloat, "rnnkit native loops: float32/64 only"); \
    using scalar_t = float;                                                                   \
    __VA_ARGS__;                                                                              \
  }

template <typename T>
LSTMArgs<T> lstm_args(const Tensor& w_hh, const OptTensor& ln_hh, const OptTensor& w_ci, const OptTensor& w_cf,
                      const OptTensor& w_co, const OptTensor& ln_cw, const OptTensor& ln_cb, const OptTensor& w_hr,
                      const OptTensor& mask, bool has_forget, bool coupled, int64_t sigma, int64_t phi,
                      bool backward, const OptTensor& pk_hh, const OptTensor& pk_hr) {
  const int64_t GH = w_hh.size(0), R = w_hh.size(1);
  const int64_t P = w_hr.has_value() ? w_hr->size(0) : 0, H = w_hr.has_value() ? w_hr->size(1) : 0;
  const T *W = w_hh.data_ptr<T>(), *Whr = ptr_or_null<T>(w_hr);
  return {ptr_or_null<T>(ln_hh), ptr_or_null<T>(w_ci), ptr_or_null<T>(w_cf), ptr_or_null<T>(w_co),
          ptr_or_null<T>(ln_cw), ptr_or_null<T>(ln_cb), Whr, ptr_or_null<T>(mask), has_forget, coupled, sigma, phi,
          backward ? make_product(W, R, GH, R, true, pk_hh) : make_product(W, GH, R, R, false, pk_hh),
          backward ? make_product(Whr, H, P, H, true, pk_hr) : make_product(Whr, P, H, H, false, pk_hr)};
}

// With ln_ih, a_in is z_x = x W_ih^T and the pre-activations' input side is LNb(z_x) ln_ih + bias.
// Fills y, cells (and cells_new, m_all, h_in_all, z_all, the layer-norm statistics) and, when P is
// given, the backward factors P (T, B, G-1, H), Q, K (T, B, H) and Fe (T, B, H, if given).
void lstm_forward(const Tensor& a_in, const Tensor& h0, const Tensor& c0, const Tensor& w_hh, const OptTensor& ln_hh,
                  const OptTensor& w_ci, const OptTensor& w_cf, const OptTensor& w_co, const OptTensor& ln_cw,
                  const OptTensor& ln_cb, const OptTensor& w_hr, const OptTensor& mask, const OptTensor& d_h,
                  double p_h, bool zone_h, const OptTensor& d_c, double p_c, bool zone_c, bool has_forget,
                  bool coupled, int64_t sigma, int64_t phi, std::vector<int64_t> rows_at, Tensor y, Tensor cells,
                  Tensor cells_new, const OptTensor& m_all, const OptTensor& h_in_all, const OptTensor& z_all,
                  const OptTensor& hh_stats, const OptTensor& cell_stats, const OptTensor& P, const OptTensor& Q,
                  const OptTensor& K, const OptTensor& Fe, const OptTensor& pk_hh, const OptTensor& pk_hr,
                  const OptTensor& ln_ih, const OptTensor& bias, const OptTensor& x_stats) {
  RNNKIT_DISPATCH(a_in, lstm_forward_impl<scalar_t>(
      a_in, input_side<scalar_t>(a_in, ln_ih, bias, x_stats, c0.size(1)), h0, c0,
      lstm_args<scalar_t>(w_hh, ln_hh, w_ci, w_cf, w_co, ln_cw, ln_cb, w_hr, mask, has_forget, coupled, sigma, phi,
                          false, pk_hh, pk_hr),
      Zoneout<scalar_t>(d_h, p_h, zone_h), Zoneout<scalar_t>(d_c, p_c, zone_c), rows_at, y.data_ptr<scalar_t>(),
      cells.data_ptr<scalar_t>(), cells_new.data_ptr<scalar_t>(), mut_or_null<scalar_t>(m_all),
      mut_or_null<scalar_t>(h_in_all), mut_or_null<scalar_t>(z_all), mut_or_null<scalar_t>(hh_stats),
      mut_or_null<scalar_t>(cell_stats), mut_or_null<scalar_t>(P), mut_or_null<scalar_t>(Q),
      mut_or_null<scalar_t>(K), mut_or_null<scalar_t>(Fe)));
}

// Fills dA (and dz_all, dh_new_all, with ln_ih dzx), leaves dL/dh_0, dL/dc_0 in dh, dc, and writes the
// gradients of the vector parameters that are given (d_ci, d_cf, d_co, d_ln_hh, d_ln_cw, d_ln_cb,
// d_ln_ih, d_bias).
void lstm_backward(const Tensor& P, const Tensor& Q, const Tensor& K, const OptTensor& Fe, const Tensor& cells,
                   const Tensor& c0, const Tensor& cells_new, const OptTensor& z_all, const OptTensor& hh_stats,
                   const OptTensor& cell_stats, const Tensor& w_hh, const OptTensor& ln_hh, const OptTensor& w_ci,
                   const OptTensor& w_cf, const OptTensor& w_co, const OptTensor& ln_cw, const OptTensor& ln_cb,
                   const OptTensor& w_hr, const OptTensor& mask, const OptTensor& d_h, double p_h, bool zone_h,
                   const OptTensor& d_c, double p_c, bool zone_c, std::vector<int64_t> rows_at, const Tensor& d_y,
                   Tensor dh, Tensor dc, Tensor dA, const OptTensor& dz_all, const OptTensor& dh_new_all,
                   const OptTensor& d_ci, const OptTensor& d_cf, const OptTensor& d_co, const OptTensor& d_ln_hh,
                   const OptTensor& d_ln_cw, const OptTensor& d_ln_cb, const OptTensor& pk_hh_t,
                   const OptTensor& pk_hr_t, const OptTensor& z_x, const OptTensor& ln_ih, const OptTensor& bias,
                   const OptTensor& x_stats, const OptTensor& dzx, const OptTensor& d_ln_ih, const OptTensor& d_bias) {
  const int64_t H = c0.size(1), GH = w_hh.size(0);
  RNNKIT_DISPATCH(d_y, {
    Sums<scalar_t> a_ci(H), a_cf(H), a_co(H), a_ln_hh(GH), a_ln_cw(H), a_ln_cb(H), a_ln_ih(GH), a_bias(GH);
    const InputSide<scalar_t> input =
        z_x.has_value() ? input_side<scalar_t>(*z_x, ln_ih, bias, x_stats, H) : InputSide<scalar_t>();
    lstm_backward_impl<scalar_t>(
        input, mut_or_null<scalar_t>(dzx), a_ln_ih, a_bias, P, Q, K, Fe, cells.data_ptr<scalar_t>(),
        c0.data_ptr<scalar_t>(), cells_new.data_ptr<scalar_t>(),
        ptr_or_null<scalar_t>(z_all), ptr_or_null<scalar_t>(hh_stats), ptr_or_null<scalar_t>(cell_stats),
        lstm_args<scalar_t>(w_hh, ln_hh, w_ci, w_cf, w_co, ln_cw, ln_cb, w_hr, mask, true, false, 0, 0, true,
                            pk_hh_t, pk_hr_t),
        Zoneout<scalar_t>(d_h, p_h, zone_h), Zoneout<scalar_t>(d_c, p_c, zone_c), rows_at, d_y,
        dh.data_ptr<scalar_t>(), dc.data_ptr<scalar_t>(), dA.data_ptr<scalar_t>(), mut_or_null<scalar_t>(dz_all),
        mut_or_null<scalar_t>(dh_new_all), a_ci, a_cf, a_co, a_ln_hh, a_ln_cw, a_ln_cb);
    a_ci.store(d_ci);
    a_cf.store(d_cf);
    a_co.store(d_co);
    a_ln_hh.store(d_ln_hh);
    a_ln_cw.store(d_ln_cw);
    a_ln_cb.store(d_ln_cb);
    a_ln_ih.store(d_ln_ih);
    a_bias.store(d_bias);
  });
}

// Fills y, the gates (r, z, n) (and h_in_all, z_all, rh_all, the statistics (T, B, 6)) and, when P_hh
// is given, the backward factors P_hh and P_in (layouts as kernels/gru.py _backward_factors).
void gru_forward(const Tensor& gi, const Tensor& h0, const Tensor& w_hh, const OptTensor& b_hh, const OptTensor& ln_hh,
                 const OptTensor& mask, const OptTensor& d_h, double p_h, bool zone_h, bool reset_after, int64_t sigma,
                 int64_t phi, std::vector<int64_t> rows_at, Tensor gates, Tensor y, const OptTensor& h_in_all,
                 const OptTensor& z_all, const OptTensor& rh_all, const OptTensor& stats, const OptTensor& P_hh,
                 const OptTensor& P_in, const OptTensor& pk_a, const OptTensor& pk_b, const OptTensor& ln_ih,
                 const OptTensor& bias, const OptTensor& x_stats) {
  const int64_t H = w_hh.size(1);
  RNNKIT_DISPATCH(gi, {
    const scalar_t* W = w_hh.data_ptr<scalar_t>();
    GRUArgs<scalar_t> args{ptr_or_null<scalar_t>(b_hh), ptr_or_null<scalar_t>(ln_hh), ptr_or_null<scalar_t>(mask),
                           reset_after, sigma, phi,
                           make_product(W, (reset_after ? 3 : 2) * H, H, H, false, pk_a),
                           make_product(W + 2 * H * H, H, H, H, false, pk_b)};
    gru_forward_impl<scalar_t>(gi, input_side<scalar_t>(gi, ln_ih, bias, x_stats, H), h0, args,
                               Zoneout<scalar_t>(d_h, p_h, zone_h), rows_at,
                               gates.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), mut_or_null<scalar_t>(h_in_all),
                               mut_or_null<scalar_t>(z_all), mut_or_null<scalar_t>(rh_all),
                               mut_or_null<scalar_t>(stats), mut_or_null<scalar_t>(P_hh), mut_or_null<scalar_t>(P_in));
  });
}

// Fills d_gi (all three blocks) and d_gh (reset_after), dz_all; leaves dL/dh_0 in dh; writes the
// gradients of b_hh (reset_after) and ln_hh_weight when given.
void gru_backward(const Tensor& P_hh, const Tensor& P_in, const Tensor& gates, const OptTensor& z_all,
                  const OptTensor& stats, const Tensor& w_hh, const OptTensor& b_hh, const OptTensor& ln_hh,
                  const OptTensor& mask, const OptTensor& d_h, double p_h, bool zone_h, bool reset_after,
                  std::vector<int64_t> rows_at, const Tensor& d_y, Tensor dh, Tensor d_gi, const OptTensor& d_gh,
                  const OptTensor& dz_all, const OptTensor& d_b_hh, const OptTensor& d_ln_hh, const OptTensor& pk_a_t,
                  const OptTensor& pk_b_t, const OptTensor& z_x, const OptTensor& ln_ih, const OptTensor& bias,
                  const OptTensor& x_stats, const OptTensor& dzx, const OptTensor& d_ln_ih, const OptTensor& d_bias) {
  const int64_t H = w_hh.size(1), H3 = w_hh.size(0);
  RNNKIT_DISPATCH(d_y, {
    Sums<scalar_t> a_b_hh(H3), a_ln_hh(H3), a_ln_ih(H3), a_bias(H3);
    const InputSide<scalar_t> input =
        z_x.has_value() ? input_side<scalar_t>(*z_x, ln_ih, bias, x_stats, H) : InputSide<scalar_t>();
    const scalar_t* W = w_hh.data_ptr<scalar_t>();
    GRUArgs<scalar_t> args{ptr_or_null<scalar_t>(b_hh), ptr_or_null<scalar_t>(ln_hh), ptr_or_null<scalar_t>(mask),
                           reset_after, 0, 0,
                           make_product(W, H, (reset_after ? 3 : 2) * H, H, true, pk_a_t),
                           make_product(W + 2 * H * H, H, H, H, true, pk_b_t)};
    gru_backward_impl<scalar_t>(input, mut_or_null<scalar_t>(dzx), a_ln_ih, a_bias, P_hh, P_in,
                                gates.data_ptr<scalar_t>(), ptr_or_null<scalar_t>(z_all),
                                ptr_or_null<scalar_t>(stats), args, Zoneout<scalar_t>(d_h, p_h, zone_h), rows_at, d_y,
                                dh.data_ptr<scalar_t>(), d_gi.data_ptr<scalar_t>(), mut_or_null<scalar_t>(d_gh),
                                mut_or_null<scalar_t>(dz_all), a_b_hh, a_ln_hh);
    a_b_hh.store(d_b_hh);
    a_ln_hh.store(d_ln_hh);
    a_ln_ih.store(d_ln_ih);
    a_bias.store(d_bias);
  });
}

// Fills y (and h_in_all) and, when D is given, D = f'(h~) (T, B, H).
void simple_forward(const Tensor& a_in, const Tensor& h0, const Tensor& w_hh, const OptTensor& mask,
                    const OptTensor& d_h, double p_h, bool zone_h, int64_t f, std::vector<int64_t> rows_at, Tensor y,
                    const OptTensor& h_in_all, const OptTensor& D, const OptTensor& pk_hh) {
  const int64_t H = w_hh.size(1);
  RNNKIT_DISPATCH(a_in, simple_forward_impl<scalar_t>(
      a_in, h0, make_product(w_hh.data_ptr<scalar_t>(), H, H, H, false, pk_hh), ptr_or_null<scalar_t>(mask),
      Zoneout<scalar_t>(d_h, p_h, zone_h), f, rows_at, y.data_ptr<scalar_t>(), mut_or_null<scalar_t>(h_in_all),
      mut_or_null<scalar_t>(D)));
}

// Fills dA and leaves dL/dh_0 in dh.
void simple_backward(const Tensor& D, const Tensor& w_hh, const OptTensor& mask, const OptTensor& d_h, double p_h,
                     bool zone_h, std::vector<int64_t> rows_at, const Tensor& d_y, Tensor dh, Tensor dA,
                     const OptTensor& pk_hh_t) {
  const int64_t H = w_hh.size(1);
  RNNKIT_DISPATCH(d_y, simple_backward_impl<scalar_t>(
      D, make_product(w_hh.data_ptr<scalar_t>(), H, H, H, true, pk_hh_t), ptr_or_null<scalar_t>(mask),
      Zoneout<scalar_t>(d_h, p_h, zone_h), rows_at, d_y, dh.data_ptr<scalar_t>(), dA.data_ptr<scalar_t>()));
}
