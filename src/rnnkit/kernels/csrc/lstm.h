// rnnkit native loops: the LSTM forward and backward step loops (kernels/lstm.py).
#pragma once
#include "layernorm.h"

namespace rnnkit_native {

template <typename T>
struct LSTMArgs {
  const T *ln_hh, *w_ci, *w_cf, *w_co, *ln_cw, *ln_cb, *w_hr, *mask;
  bool has_forget, coupled;
  int64_t sigma, phi;
  Product<T> hh, hr;            // forward: h_in W_hh^T, m W_hr^T; backward: d_pre W_hh, dh~ W_hr
};

// Sigma, Phi: the gate and cell activations' ids fixed at compile time (the common sigmoid / tanh pair,
// 1 / 0, folds activate()'s switch out of the step's loops), or -1: read from p at run time.
template <typename T, int64_t Sigma = -1, int64_t Phi = -1>
void lstm_forward_impl(int64_t Tn, InputSide<T> input, Projection<T> proj, const Tensor& h0, const Tensor& c0,
                       const LSTMArgs<T>& p,
                       const Zoneout<T>& zh, const Zoneout<T>& zc, const std::vector<int64_t>& rows_at, T* Y, T* C,
                       T* Cn, T* Mall, T* Hin, T* Z, T* HS, T* CS, T* Pp, T* Qp, T* Kp, T* Fp) {
  const int64_t B = input.B, GH = input.N;
  const int64_t R = h0.size(1), H = c0.size(1), G = GH / H, NP = G - 1;
  const int64_t sigma = Sigma >= 0 ? Sigma : p.sigma, phi = Phi >= 0 ? Phi : p.phi;
  std::vector<T> A(p.ln_hh ? 0 : B * GH), h_new(p.w_hr && zh.on ? B * R : 0);
  std::vector<T> z_step(p.ln_hh && !Z ? B * GH : 0);                     // z_t when no backward keeps it
  constexpr int64_t Wd = Vec<T>::size();
  const Vec<T> one(T(1));
  for (int64_t t = 0; t < Tn; ++t) {
    const int64_t r = rows_at[t];
    if (r == 0) continue;
    const T* h_prev = t == 0 ? h0.data_ptr<T>() : Y + (t - 1) * B * R;
    const T* c_prev = t == 0 ? c0.data_ptr<T>() : C + (t - 1) * B * H;
    proj.advance(t, Tn, input);
    over_rows(r, GH * R, [&](int64_t b0, int64_t b1) {                    // rows [b0, b1) of step t
      const T* h_in = recurrent_input(h_prev, p.mask, t, b0, b1, B, R, Hin);
      T* z = p.ln_hh ? (Z ? Z + t * B * GH : z_step.data()) : A.data();
      if (!proj.x) prefetch(input.row_of(t * B + b0), (b1 - b0) * GH);   // a_t, read after the product
      p.hh(b1 - b0, h_in + b0 * R, R, T(0), z + b0 * GH, GH);             // z = h_in W_hh^T
      if (input.ln) input.take_stats(t, b0, b1);
      if (p.ln_hh) layer_norm_stats(z + b0 * GH, (b1 - b0) * G, H, HS + (t * B + b0) * G * 2);
      auto gate = [&](int64_t b, int64_t k, int64_t j, int64_t m) {     // A_t[b, kH + j:] of gate block k:
        const int64_t row = t * B + b, offset = k * H;                   // a_t + z_t, or + LNb(z_t) ln_hh
        const T* zb = z + b * GH;
        const Vec<T> v = p.ln_hh ? normalised(zb + offset, HS + row * G * 2 + 2 * k, p.ln_hh + offset,
                                              static_cast<const T*>(nullptr), j, m)
                                 : Vec<T>::loadu(zb + offset + j, m);
        return v + input.at(row, k, j, m);
      };
      for (int64_t b = b0; b < b1; ++b) {                                 // pass 1: i, f, g, c~ and P, Fe
        const int64_t row = t * B + b;
        const T* cp = c_prev + b * H;
        T* c = Cn + row * H;
        T* P_row = Pp ? Pp + row * NP * H : nullptr;
        for (int64_t j = 0; j < H; j += Wd) {
          const int64_t m = std::min(Wd, H - j);
          const Vec<T> cpv = Vec<T>::loadu(cp + j, m);
          Vec<T> ai = gate(b, 0, j, m);
          if (p.w_ci) ai = ai + Vec<T>::loadu(p.w_ci + j, m) * cpv;
          const Vec<T> i = activate(sigma, ai);
          const Vec<T> g = activate(phi, gate(b, G - 2, j, m));
          Vec<T> cv, f;
          if (p.has_forget) {
            Vec<T> af = gate(b, 1, j, m);
            if (p.w_cf) af = af + Vec<T>::loadu(p.w_cf + j, m) * cpv;
            f = activate(sigma, af);
            cv = f * cpv + i * g;
          } else if (p.coupled) {
            cv = cpv + i * (g - cpv);
          } else {
            cv = cpv + i * g;
          }
          cv.store(c + j, m);
          if (!P_row) continue;
          const Vec<T> p_i = derivative(sigma, i) * (p.coupled ? g - cpv : g);         // σ'(i) g
          p_i.store(P_row + j, m);
          Vec<T> fe = p.has_forget ? f : (p.coupled ? one - i : one);
          if (p.has_forget) {
            const Vec<T> p_f = derivative(sigma, f) * cpv;                             // σ'(f) c_{t-1}
            p_f.store(P_row + H + j, m);
            if (p.w_cf) fe = fe + p_f * Vec<T>::loadu(p.w_cf + j, m);
          }
          (derivative(phi, g) * i).store(P_row + (NP - 1) * H + j, m);                // φ'(g) i
          if (p.w_ci) fe = fe + p_i * Vec<T>::loadu(p.w_ci + j, m);
          if (Fp) fe.store(Fp + row * H + j, m);
        }
      }
      if (p.ln_cw) layer_norm_stats(Cn + (t * B + b0) * H, b1 - b0, H, CS + (t * B + b0) * 2);   // of cn = LN(c~) w + b
      for (int64_t b = b0; b < b1; ++b) {                                 // pass 2: o, φ(cn), h or m, Q, K
        const int64_t row = t * B + b;
        const T* c = Cn + row * H;
        T* out = p.w_hr ? Mall + row * H : Y + row * R;
        const T* hp = h_prev + b * R;
        for (int64_t j = 0; j < H; j += Wd) {
          const int64_t m = std::min(Wd, H - j);
          const Vec<T> cv = Vec<T>::loadu(c + j, m);
          Vec<T> ao = gate(b, G - 1, j, m);
          if (p.w_co) ao = ao + Vec<T>::loadu(p.w_co + j, m) * cv;
          const Vec<T> o = activate(sigma, ao);
          const Vec<T> pc = activate(phi, p.ln_cw ? normalised(c, CS + row * 2, p.ln_cw, p.ln_cb, j, m) : cv);
          Vec<T> h = o * pc;
          if (!p.w_hr && zh.on) h = h + zh.at(row * R + j, m) * (Vec<T>::loadu(hp + j, m) - h);
          h.store(out + j, m);
          if (zc.on)
            (cv + zc.at(row * H + j, m) * (Vec<T>::loadu(c_prev + b * H + j, m) - cv)).store(C + row * H + j, m);
          if (Qp) {
            (derivative(sigma, o) * pc).store(Qp + row * H + j, m);                    // σ'(o) φ(cn)
            (o * derivative(phi, pc)).store(Kp + row * H + j, m);                     // o φ'(cn)
          }
        }
      }
    });
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
  std::vector<T> dh_cell(B * R), carry_h(B * R), carry_c(B * H), dm_buf(B * H);
  struct Scratch {
    std::vector<T> dcn, product;
  };
  std::vector<Scratch> scratch(std::max(1, at::get_num_threads()), Scratch{std::vector<T>(p.ln_cw ? B * H : 0), {}});
  constexpr int64_t Wd = Vec<T>::size();
  for (int64_t t = Tn - 1; t >= 0; --t) {
    const int64_t r = rows_at[t];
    const T* dht = begin_backward_step(t, rows_at, DY, B, R, dH, zh, dh_cell.data(), carry_h.data());   // dL/dh~_t
    if (dht == nullptr) continue;
    if (zc.on) zoneout_split(dC, zc, t * B * H, r * H, dC, carry_c.data());   // dC <- dL/dc~
    const T* dm = dht;
    if (p.w_hr) {
      std::memcpy(dHn + t * B * R, dht, sizeof(T) * r * R);
      p.hr(r, dht, R, T(0), dm_buf.data(), H);                           // dm = dh~ W_hr
      dm = dm_buf.data();
    }
    T* dA_t = dAp + t * B * GH;
    const T* c_prev = t == 0 ? c0 : C + (t - 1) * B * H;
    over_rows(r, GH * R, [&](int64_t b0, int64_t b1) {                    // rows [b0, b1) of step t
      Scratch& own = scratch[at::get_thread_num()];
      if (p.ln_cw) {                                                      // dcn = dm K; dc~ += LN backward
        const int64_t row0 = t * B + b0, n = (b1 - b0) * H;               // rows [b0, b1) at once
        for (int64_t k = 0; k < n; ++k) own.dcn[k] = dm[b0 * H + k] * Kp[row0 * H + k];
        layer_norm_rows_backward(own.dcn.data(), p.ln_cw, Cn + row0 * H, b1 - b0, 1, H, CS + row0 * 2, dC + b0 * H,
                                 true, &d_ln_cw, &d_ln_cb);
      }
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t row = t * B + b;
        const T* dmb = dm + b * H;
        T* dcb = dC + b * H;
        T* dAb = dA_t + b * GH;
        for (int64_t j = 0; j < H; j += Wd) {
          const int64_t m = std::min(Wd, H - j);
          const Vec<T> dmv = Vec<T>::loadu(dmb + j, m);
          const Vec<T> dao = dmv * Vec<T>::loadu(Qp + row * H + j, m);   // dA_o = dm Q
          dao.store(dAb + (G - 1) * H + j, m);
          Vec<T> dcv = Vec<T>::loadu(dcb + j, m);
          if (!p.ln_cw) dcv = dcv + dmv * Vec<T>::loadu(Kp + row * H + j, m);  // dc~ += dm K
          if (p.w_co) dcv = dcv + dao * Vec<T>::loadu(p.w_co + j, m);    // the o peephole reads c~
          for (int64_t k = 0; k < NP; ++k)                               // dA_{i,f,g} = dc~ P
            (dcv * Vec<T>::loadu(Pp + (row * NP + k) * H + j, m)).store(dAb + k * H + j, m);
          if (Fp) dcv = dcv * Vec<T>::loadu(Fp + row * H + j, m);        // dc_{t-1} = dc~ Fe
          if (zc.on) dcv = dcv + Vec<T>::loadu(carry_c.data() + b * H + j, m);
          dcv.store(dcb + j, m);
        }
        if (p.w_ci) d_ci.add(dAb, c_prev + b * H, H);                     // dL/dw_ci = sum dA_i c_{t-1}
        if (p.w_cf) d_cf.add(dAb + H, c_prev + b * H, H);                 // dL/dw_cf = sum dA_f c_{t-1}
        if (p.w_co) d_co.add(dAb + (G - 1) * H, Cn + row * H, H);         // dL/dw_co = sum dA_o c~
      }
      if (input.ln) input.backward(t, b0, b1, dA_t, dZX, d_ln_ih, d_bias);
      const T* d_pre = dA_t;
      if (p.ln_hh) {                                                      // through LNb(h_in W_hh^T) ln_hh
        T* dz = dZ + t * B * GH;                                          // may be dA_t: read, then written
        const int64_t row = t * B + b0;                                   // rows [b0, b1) at once
        layer_norm_rows_backward(dA_t + b0 * GH, p.ln_hh, Z + row * GH, b1 - b0, G, H, HS + row * G * 2, dz + b0 * GH,
                                 false, &d_ln_hh, static_cast<Sums<T>*>(nullptr));
        d_pre = dz;
      }
      if (t > 0) {                                                        // step t - 1's factors, read next
        const int64_t next = (t - 1) * B + b0, rows = b1 - b0;           // rows_at[t - 1] >= b1
        prefetch(Pp + next * NP * H, rows * NP * H);
        prefetch(Qp + next * H, rows * H);
        prefetch(Kp + next * H, rows * H);
        prefetch(Fp ? Fp + next * H : nullptr, rows * H);
        prefetch(Z ? Z + next * GH : nullptr, rows * GH);
        prefetch(input.ln ? input.row_of(next) : nullptr, rows * GH);
      }
      recurrent_input_grad(b0, b1, R, d_pre, GH, p.hh, p.mask, t > 0 ? DY + (t - 1) * B * R : nullptr,
                           zh.on ? carry_h.data() : nullptr, dH, own.product);
    });
    for (Sums<T>* sums : {&d_ci, &d_cf, &d_co, &d_ln_hh, &d_ln_cw, &d_ln_cb, &d_ln_ih, &d_bias}) sums->flush();
  }
}

}  // namespace rnnkit_native
