// rnnkit native loops: the GRU forward and backward step loops (kernels/gru.py).
#pragma once
#include "layernorm.h"

namespace rnnkit_native {

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
    const T* h_in = recurrent_input(h_prev, p.mask, t, 0, r, B, H, Hin);
    T* S_t = S + t * B * H3;
    const T* gi_t = input.rows(t, 0, r, gi_rows);                          // (r, 3H)
    T* z_t = Z ? Z + t * B * H3 : nullptr;
    if (p.reset_after) {                                                  // gh = h_in W^T + b_hh [LN]
      if (!p.ln_hh) {
        p.hh(r, h_in, H, T(0), gh.data(), H3, p.b_hh, 0);
      } else {
        p.hh(r, h_in, H, T(0), z_t, H3);
        layer_norm_rows(z_t, r, 3, H, p.ln_hh, p.b_hh, gh.data(), ST + t * B * 6);           // the r rows at once
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
        p.hh(r, h_in, H, T(0), S_t, H3, gi_t, H3);
      } else {
        p.hh(r, h_in, H, T(0), z_t, H3);
        for (int64_t b = 0; b < r; ++b)
          layer_norm_rows(z_t + b * H3, 1, 2, H, p.ln_hh, gi_t + b * H3, S_t + b * H3, ST + (t * B + b) * 6);
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
        p.n(r, rh, H, T(0), S_t + 2 * H, H3, gi_t + 2 * H, H3);
      } else {
        p.n(r, rh, H, T(0), z_t + 2 * H, H3);
        for (int64_t b = 0; b < r; ++b)
          layer_norm_rows(z_t + b * H3 + 2 * H, 1, 1, H, p.ln_hh + 2 * H, gi_t + b * H3 + 2 * H, S_t + b * H3 + 2 * H,
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
  std::vector<T> dh_cell(B * H), carry(B * H), base(B * H), d_rh(B * H), scratch;
  constexpr int64_t Wd = Vec<T>::size();
  for (int64_t t = Tn - 1; t >= 0; --t) {
    const int64_t r = rows_at[t];
    const T* dht = begin_backward_step(t, rows_at, DY, B, H, dH, zh, dh_cell.data(), carry.data());   // dL/dh~_t
    if (dht == nullptr) continue;
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
        layer_norm_rows_backward(dgh, p.ln_hh, Z + t * B * H3, r, 3, H, ST + t * B * 6, dz, false, &d_ln_hh,
                                 static_cast<Sums<T>*>(nullptr));
        d_pre = dz;
      }
      recurrent_input_grad<T>(0, r, H, d_pre, H3, p.hh, p.mask, base.data(), nullptr, dH, scratch);
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
          layer_norm_rows_backward(dgi + b * H3 + 2 * H, p.ln_hh + 2 * H, Z + (t * B + b) * H3 + 2 * H, 1, 1, H,
                                   ST + (t * B + b) * 6 + 4, dz + b * H3 + 2 * H, false, &d_ln_hh,
                                   static_cast<Sums<T>*>(nullptr), 2 * H);
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
          layer_norm_rows_backward(dgi + b * H3, p.ln_hh, Z + (t * B + b) * H3, 1, 2, H, ST + (t * B + b) * 6,
                                   dz + b * H3, false, &d_ln_hh, static_cast<Sums<T>*>(nullptr));
        d_rz = dz;
      }
      p.hh(r, d_rz, H3, T(1), d_rh.data(), H);                           // dL/dh_in
      for (int64_t k = 0; k < r * H; ++k) dH[k] = base[k] + d_rh[k] * (p.mask ? p.mask[k] : T(1));
    }
    if (input.ln) input.backward(t, 0, r, dgi, dZX, d_ln_ih, d_bias);
    for (Sums<T>* sums : {&d_b_hh, &d_ln_hh, &d_ln_ih, &d_bias}) sums->flush();
  }
}

}  // namespace rnnkit_native
