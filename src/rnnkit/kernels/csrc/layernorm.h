// rnnkit native loops: layer norm over blocks of a row (forward and backward) and the input side of the
// pre-activations, with the input-side layer norm (the LSTM and GRU loops). See bindings.cpp.
#pragma once
#include "common.h"

namespace rnnkit_native {

// Layer-norm statistics of `blocks` consecutive blocks of H (one row's gate blocks, or several rows' one
// after another): mean and rstd per block in stats[2 * block + {0, 1}] (biased variance, eps 1e-5). Each
// block's sum and sum of squares of z - z[0] come from one pass (shifted by the first element, so that a
// mean far from 0 does not cancel the variance away); then the means and rstds of up to kStatsChunk blocks
// at once, vectorised (one chain of divisions and square roots for the chunk instead of one per block).
constexpr int64_t kStatsChunk = 16;

template <typename T>
void layer_norm_stats(const T* z, int64_t blocks, int64_t H, T* stats) {
  constexpr int64_t W = Vec<T>::size();
  __at_align__ T shift[kStatsChunk], sums[kStatsChunk], squares[kStatsChunk], mean[kStatsChunk], rstd[kStatsChunk];
  for (int64_t k0 = 0; k0 < blocks; k0 += kStatsChunk) {
    const int64_t n = std::min(kStatsChunk, blocks - k0);
    for (int64_t k = 0; k < n; ++k) {
      const T* zk = z + (k0 + k) * H;
      const T s0 = zk[0];
      Vec<T> acc(T(0)), acc2(T(0)), acc_b(T(0)), acc2_b(T(0));         // two chains each, for the latency
      int64_t j = 0;
      for (; j + 2 * W <= H; j += 2 * W) {
        const Vec<T> d = Vec<T>::loadu(zk + j) - Vec<T>(s0), e = Vec<T>::loadu(zk + j + W) - Vec<T>(s0);
        acc = acc + d;
        acc2 = at::vec::fmadd(d, d, acc2);
        acc_b = acc_b + e;
        acc2_b = at::vec::fmadd(e, e, acc2_b);
      }
      for (; j + W <= H; j += W) {
        const Vec<T> d = Vec<T>::loadu(zk + j) - Vec<T>(s0);
        acc = acc + d;
        acc2 = at::vec::fmadd(d, d, acc2);
      }
      T sum = lane_sum(acc + acc_b), sum2 = lane_sum(acc2 + acc2_b);
      for (; j < H; ++j) {
        const T d = zk[j] - s0;
        sum += d;
        sum2 += d * d;
      }
      shift[k] = s0;
      sums[k] = sum;
      squares[k] = sum2;
    }
    const Vec<T> size(static_cast<T>(H)), zero(T(0)), one(T(1)), eps(static_cast<T>(kEps));
    for (int64_t k = 0; k < n; k += W) {                                 // mean = z[0] + shifted mean,
      const int64_t m = std::min(W, n - k);                              // rstd = 1 / sqrt(var + eps)
      const Vec<T> shifted_mean = Vec<T>::loadu(sums + k, m) / size;
      const Vec<T> var = at::vec::maximum(Vec<T>::loadu(squares + k, m) / size - shifted_mean * shifted_mean, zero);
      (Vec<T>::loadu(shift + k, m) + shifted_mean).store(mean + k, m);
      (one / (var + eps).sqrt()).store(rstd + k, m);
    }
    for (int64_t k = 0; k < n; ++k) {
      stats[2 * (k0 + k)] = mean[k];
      stats[2 * (k0 + k) + 1] = rstd[k];
    }
  }
}

// LN(z)[j] w[j] + shift[j] of the block whose statistics are `stats` (w, shift optional: 1, 0), m lanes.
template <typename T>
RNNKIT_INLINE Vec<T> normalised(const T* z, const T* stats, const T* w, const T* shift, int64_t j, int64_t m) {
  Vec<T> n = (Vec<T>::loadu(z + j, m) - Vec<T>(stats[0])) * Vec<T>(stats[1]);
  if (w) n = n * Vec<T>::loadu(w + j, m);
  if (shift) n = n + Vec<T>::loadu(shift + j, m);
  return n;
}

// Layer norm of `rows` consecutive rows of `blocks` blocks of H: out = LN(z) * w + shift per block (w and
// shift, optional, one row wide), the statistics kept in stats (layer_norm_stats, all rows' blocks at once);
// out may be z itself.
template <typename T>
void layer_norm_rows(const T* z, int64_t rows, int64_t blocks, int64_t H, const T* w, const T* shift, T* out,
                     T* stats) {
  constexpr int64_t W = Vec<T>::size();
  layer_norm_stats(z, rows * blocks, H, stats);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < blocks; ++k) {
      const int64_t o = (r * blocks + k) * H, wo = k * H;
      for (int64_t j = 0; j < H; j += W) {
        const int64_t m = std::min(W, H - j);
        normalised(z + o, stats + 2 * (r * blocks + k), w ? w + wo : nullptr, shift ? shift + wo : nullptr, j, m)
            .store(out + o + j, m);
      }
    }
  }
}

// Backward of layer_norm_rows per block given g_raw = dL/d(out) (`rows` consecutive rows of `blocks` blocks
// of H, as z and dz): with g = g_raw * w and n = (z - mean) rstd, dz = rstd (g - mean(g) - n mean(g n))
// (written, or added when `accumulate`); d_w += g_raw n and d_shift += g_raw when given (at the block's
// offset in the row, plus sums_offset). The first pass gathers both means and the sums of the blocks of
// up to kStatsChunk / blocks rows (so that their reductions overlap), the second writes dz as
// g_raw (rstd w) - rstd^2 mean(g n) (z - mean) - rstd mean(g), three multiply-adds an element (dz may be
// g_raw itself: each block is read before it is written).
template <typename T>
void layer_norm_rows_backward(const T* g_raw, const T* w, const T* z, int64_t rows, int64_t blocks, int64_t H,
                              const T* stats, T* dz, bool accumulate, Sums<T>* d_w, Sums<T>* d_shift,
                              int64_t sums_offset = 0) {
  constexpr int64_t W = Vec<T>::size();
  T* sw = d_w ? d_w->block() + sums_offset : nullptr;
  T* sb = d_shift ? d_shift->block() + sums_offset : nullptr;
  TORCH_CHECK(blocks <= kStatsChunk, "layer_norm_rows_backward: at most ", kStatsChunk, " blocks a row");
  T means_g[kStatsChunk], means_gn[kStatsChunk];                        // a chunk of whole rows' blocks
  const int64_t chunk_rows = kStatsChunk / blocks;
  for (int64_t r0 = 0; r0 < rows; r0 += chunk_rows) {
    const int64_t r1 = std::min(rows, r0 + chunk_rows);
    for (int64_t r = r0, i = 0; r < r1; ++r) {
      for (int64_t k = 0; k < blocks; ++k, ++i) {
        const int64_t o = (r * blocks + k) * H, wo = k * H, s = 2 * (r * blocks + k);
        const Vec<T> mean(stats[s]), rstd(stats[s + 1]);
        Vec<T> sum_g(T(0)), sum_gn(T(0));
        for (int64_t j = 0; j < H; j += W) {
          const int64_t m = std::min(W, H - j);
          const Vec<T> gr = Vec<T>::loadu(g_raw + o + j, m);
          const Vec<T> gv = w ? gr * Vec<T>::loadu(w + wo + j, m) : gr;  // lanes past m load as 0
          const Vec<T> nv = (Vec<T>::loadu(z + o + j, m) - mean) * rstd;
          sum_g = sum_g + gv;
          sum_gn = sum_gn + gv * nv;
          if (sw) (Vec<T>::loadu(sw + wo + j, m) + gr * nv).store(sw + wo + j, m);
          if (sb) (Vec<T>::loadu(sb + wo + j, m) + gr).store(sb + wo + j, m);
        }
        means_g[i] = lane_sum(sum_g) / T(H);
        means_gn[i] = lane_sum(sum_gn) / T(H);
      }
    }
    for (int64_t r = r0, i = 0; r < r1; ++r) {                          // dz = g_raw (rstd w) - a (z - mean) + c
      for (int64_t k = 0; k < blocks; ++k, ++i) {                         // a = rstd^2 mean(g n), c = -rstd mean(g)
        const int64_t o = (r * blocks + k) * H, wo = k * H, s = 2 * (r * blocks + k);
        const T rstd_s = stats[s + 1];
        const Vec<T> mean(stats[s]), rstd(rstd_s), a(rstd_s * rstd_s * means_gn[i]), c(-rstd_s * means_g[i]);
        for (int64_t j = 0; j < H; j += W) {
          const int64_t m = std::min(W, H - j);
          const Vec<T> rw = w ? rstd * Vec<T>::loadu(w + wo + j, m) : rstd;
          const Vec<T> centred = Vec<T>::loadu(z + o + j, m) - mean;
          Vec<T> d = at::vec::fmadd(Vec<T>::loadu(g_raw + o + j, m), rw, at::vec::fnmadd(a, centred, c));
          if (accumulate) d = d + Vec<T>::loadu(dz + o + j, m);
          d.store(dz + o + j, m);
        }
      }
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
  T* stats = nullptr;          // (T, B, blocks, 2) with layer norm
  int64_t B = 0, N = 0, H = 0, blocks = 0;   // blocks = N / H, kept (no division per element)
  int64_t row0 = 0;            // the row (t B + b) a_in starts at: 0, or a Projection's first step

  // Row `row` = t B + b of a_in (or z_x), and its layer-norm statistics (blocks x mean, rstd).
  const T* row_of(int64_t row) const { return a_in + (row - row0) * N; }
  T* stats_of(int64_t row) const { return stats + row * blocks * 2; }

  // With layer norm: the statistics of the rows [b0, b1) of z_x[t], for a reader that normalises as it
  // loads (at()).
  void take_stats(int64_t t, int64_t b0, int64_t b1) const {
    layer_norm_stats(row_of(t * B + b0), (b1 - b0) * blocks, H, stats_of(t * B + b0));   // rows are consecutive
  }

  // a_t[b, kH + j:] (m lanes, in block k) of row `row` = t B + b: a_in itself, or with layer norm
  // LNb(z_x) ln_ih + bias from the statistics take_stats() kept.
  Vec<T> at(int64_t row, int64_t k, int64_t j, int64_t m) const {
    const int64_t offset = k * H;
    const T* src = row_of(row) + offset;
    if (!ln) return Vec<T>::loadu(src + j, m);
    return normalised(src, stats_of(row) + 2 * k, ln + offset, bias ? bias + offset : nullptr, j, m);
  }

  // The rows [b0, b1) of a_t (written to scratch with layer norm); returns row 0's address.
  const T* rows(int64_t t, int64_t b0, int64_t b1, std::vector<T>& scratch) const {
    const T* src = row_of(t * B);
    if (!ln) return src;
    layer_norm_rows(src + b0 * N, b1 - b0, blocks, H, ln, bias, scratch.data() + b0 * N, stats_of(t * B + b0));
    return scratch.data();
  }

  // dz_x[t] (rows [b0, b1) of dzx) from the pre-activation gradients d_pre (row 0's address, rows of
  // width N), the rows at once.
  void backward(int64_t t, int64_t b0, int64_t b1, const T* d_pre, T* dzx, Sums<T>& d_ln, Sums<T>& d_bias) const {
    const int64_t row = t * B + b0;
    layer_norm_rows_backward(d_pre + b0 * N, ln, row_of(row), b1 - b0, blocks, H, stats_of(row), dzx + row * N,
                             false, &d_ln, bias ? &d_bias : static_cast<Sums<T>*>(nullptr));
  }
};

// The input side computed here a few steps at a time, a_t = x_t W_ih^T + bias (with the input-side layer
// norm z_x = x_t W_ih^T, normalised as the gates read it), into a buffer of about
// kProjectionRows rows (instead of a (T, B, 4H) tensor made beforehand: tens of MB at H = 512, whose fresh
// pages cost as much to fault in as the product to fill them, and whose rows the loop streams back).
constexpr int64_t kProjectionRows = 256;   // a product call's worth of rows over W_ih; the buffer stays in L2

template <typename T>
struct Projection {
  const T* x = nullptr;        // (T, B, I) or null: a_in is given
  const T* bias = nullptr;     // (N) or null
  const T* ln = nullptr;       // ln_ih_weight (N) or null: the rows are normalised here, bias their shift
  T* stats = nullptr;          // (T, B, N / H, 2) with ln
  int64_t H = 0;
  Product<T> ih;               // x_t W_ih^T
  int64_t I = 0, steps = 1;
  std::vector<T> buffer;       // (steps, B, N)

  // Makes a_t of steps [t, t + steps) the input side's rows when t starts a chunk (with ln: the chunk's
  // rows normalised at once, LNb(z_x) ln_ih + bias, so that the step loop reads them as they are).
  void advance(int64_t t, int64_t Tn, InputSide<T>& input) {
    if (!x || t % steps != 0) return;
    const int64_t rows = std::min(steps, Tn - t) * input.B, N = input.N;
    const T* add = ln ? nullptr : bias;                                   // with ln the bias is its shift
    ih(rows, x + t * input.B * I, I, T(0), buffer.data(), N, add, 0);
    if (ln) layer_norm_rows(buffer.data(), rows, N / H, H, ln, bias, buffer.data(), stats + t * input.B * (N / H) * 2);
    input.a_in = buffer.data();
    input.row0 = t * input.B;
  }
};

template <typename T>
Projection<T> projection(const OptTensor& x, const OptTensor& w_ih, const OptTensor& bias, const OptTensor& ln,
                         const OptTensor& stats, int64_t B, int64_t N, int64_t H) {
  Projection<T> p;
  if (!x.has_value()) return p;
  p.x = x->data_ptr<T>();
  p.I = x->size(2);
  p.bias = ptr_or_null<T>(bias);
  p.ln = ptr_or_null<T>(ln);
  p.stats = mut_or_null<T>(stats);
  p.H = H;
  p.ih = make_product(w_ih->data_ptr<T>(), N, p.I, p.I, false, std::nullopt);
  p.steps = std::max<int64_t>(1, kProjectionRows / std::max<int64_t>(1, B));
  p.buffer.resize(p.steps * B * N);
  return p;
}

// The input side of rows (B of a step) of width N in blocks of H: a_in (T, B, N) as given, or none when a
// Projection provides its rows; ln_ih (with its statistics) and its shift `bias` where the layer norm is on.
template <typename T>
InputSide<T> input_side(const OptTensor& a_in, int64_t B, int64_t N, int64_t H, const OptTensor& ln,
                        const OptTensor& bias, const OptTensor& stats) {
  InputSide<T> side;
  side.a_in = ptr_or_null<T>(a_in);
  side.ln = ptr_or_null<T>(ln);
  side.bias = ptr_or_null<T>(bias);
  side.stats = mut_or_null<T>(stats);
  side.B = B;
  side.N = N;
  side.H = H;
  side.blocks = N / H;
  return side;
}

}  // namespace rnnkit_native
