// rnnkit: the per-step loops of the BPTT kernels (kernels/lstm.py, gru.py, simple.py) in C++ for CPU.
//
// The same equations as the torch loops they replace (see the docstrings of those files), with the
// work arranged for a CPU: one product call per step (oneDNN or BLAS, see kernels/gemm.py) and
// vectorised passes over the pointwise math. The forward loop also writes the factors of the backward pass (P, Q,
// K, Fe, ...), which the torch engine computes for all steps after its loop, while the gate values
// are in registers; the backward loop accumulates the gradients of the vector parameters (peepholes,
// layer-norm gains and shifts, b_hh of the GRU) as it goes. The matrix gradients stay in Python (one
// GEMM over all steps). Layout: time-major contiguous buffers (T, B, X); at step t the first rows[t]
// rows are active (the batch is sorted by length).
//
// This file holds the entry points load_inline binds; the loops are in lstm.h, gru.h, simple.h.
#include "draws.h"
#include "gru.h"
#include "lstm.h"
#include "simple.h"

#include <atomic>

using namespace rnnkit_native;

// Every loop runs with denormals flushed to zero on the calling thread (denormals.h).
#define RNNKIT_DISPATCH(tensor, ...)                                                          \
  FlushDenormals flush_denormals;                                                             \
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

// With ln_ih, a_in is z_x = x W_ih^T and the pre-activations' input side is LNb(z_x) ln_ih + bias;
// without a_in (None), x (T, B, I) and w_ih are given and a_t = x_t W_ih^T + bias is computed here.
// Fills y, cells (and cells_new, m_all, h_in_all, z_all, the layer-norm statistics) and, when P is
// given, the backward factors P (T, B, G-1, H), Q, K (T, B, H) and Fe (T, B, H, if given).
void lstm_forward(const OptTensor& a_in, const Tensor& h0, const Tensor& c0, const Tensor& w_hh, const OptTensor& ln_hh,
                  const OptTensor& w_ci, const OptTensor& w_cf, const OptTensor& w_co, const OptTensor& ln_cw,
                  const OptTensor& ln_cb, const OptTensor& w_hr, const OptTensor& mask, const OptTensor& d_h,
                  double p_h, bool zone_h, const OptTensor& d_c, double p_c, bool zone_c, bool has_forget,
                  bool coupled, int64_t sigma, int64_t phi, std::vector<int64_t> rows_at, Tensor y, Tensor cells,
                  Tensor cells_new, const OptTensor& m_all, const OptTensor& h_in_all, const OptTensor& z_all,
                  const OptTensor& hh_stats, const OptTensor& cell_stats, const OptTensor& P, const OptTensor& Q,
                  const OptTensor& K, const OptTensor& Fe, const OptTensor& pk_hh, const OptTensor& pk_hr,
                  const OptTensor& ln_ih, const OptTensor& bias, const OptTensor& x_stats, const OptTensor& x,
                  const OptTensor& w_ih) {
  const int64_t Tn = y.size(0), B = y.size(1), GH = w_hh.size(0);
  RNNKIT_DISPATCH(h0, (sigma == 1 && phi == 0 ? lstm_forward_impl<scalar_t, 1, 0> : lstm_forward_impl<scalar_t>)(
      Tn, input_side<scalar_t>(a_in, B, GH, c0.size(1), x.has_value() ? std::nullopt : ln_ih, bias, x_stats),
      projection<scalar_t>(x, w_ih, bias, ln_ih, x_stats, B, GH, c0.size(1)), h0, c0,
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
    Sums<scalar_t> a_ci(d_ci, H), a_cf(d_cf, H), a_co(d_co, H), a_ln_hh(d_ln_hh, GH), a_ln_cw(d_ln_cw, H),
        a_ln_cb(d_ln_cb, H), a_ln_ih(d_ln_ih, GH), a_bias(d_bias, GH);
    const InputSide<scalar_t> input = input_side<scalar_t>(z_x, d_y.size(1), GH, H, ln_ih, bias, x_stats);
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
    gru_forward_impl<scalar_t>(gi, input_side<scalar_t>(gi, gi.size(1), gi.size(2), H, ln_ih, bias, x_stats), h0, args,
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
    Sums<scalar_t> a_b_hh(d_b_hh, H3), a_ln_hh(d_ln_hh, H3), a_ln_ih(d_ln_ih, H3), a_bias(d_bias, H3);
    const InputSide<scalar_t> input = input_side<scalar_t>(z_x, d_y.size(1), H3, H, ln_ih, bias, x_stats);
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

// How many of torch's threads run a step of r rows of `work` multiply-adds each (over_rows; a probe for
// the tests: at::parallel_for is a header template, which runs on one thread where it was compiled
// without the OpenMP runtime torch's threads are).
int64_t step_threads(int64_t r, int64_t work) {
  std::vector<std::atomic<int>> seen(std::max(1, at::get_num_threads()));
  over_rows(r, work, [&](int64_t, int64_t) { seen[at::get_thread_num()] = 1; });
  int64_t count = 0;
  for (const auto& s : seen) count += s.load();
  return count;
}

// Zoneout's draws (draws.h): n values 0 / 1 of probability count / 2^16, float32 or float64 as `like`.
Tensor zoneout_draws(int64_t seed, int64_t count, int64_t n, const Tensor& like) {
  return bernoulli_draws(seed, count, n, like.options());
}

// Whether float32 products run the AVX-512 panel kernel (then the oneDNN-packed weights are not used).
bool panel_products() { return panels_supported(); }

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
