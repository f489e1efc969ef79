// rnnkit native loops: the Elman forward and backward step loops (kernels/simple.py).
#pragma once
#include "common.h"

namespace rnnkit_native {

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
    const T* h_in = recurrent_input(h_prev, M, t, 0, r, B, H, Hin);
    hh(r, h_in, H, T(0), hn.data(), H, A_in + t * B * H, H);            // a_t + h_in W^T
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
    const T* dht = begin_backward_step(t, rows_at, DY, B, H, dH, zh, dh_cell.data(), carry.data());   // dL/dh~_t
    if (dht == nullptr) continue;
    T* da = dAp + t * B * H;
    for (int64_t k = 0; k < r * H; ++k) da[k] = dht[k] * Dp[t * B * H + k];    // dA = dh~ f'(A)
    recurrent_input_grad(int64_t(0), r, H, da, H, hh, M, t > 0 ? DY + (t - 1) * B * H : nullptr,
                         zh.on ? carry.data() : nullptr, dH, scratch);
  }
}

}  // namespace rnnkit_native
