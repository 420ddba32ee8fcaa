"""Compiled CPU kernels of `roi_pool` and `roi_align` (forward and backward), called through ctypes.

Built once per source, compiler, flags and CPU by `dlbasic._native_build` (the optimizers' machinery) into
`$DLBASIC_CACHE`. The arithmetic is that of the torch versions in `pooling.py` and of torchvision's CPU kernels,
operation for operation in the input's dtype (no fused multiply-adds: `-ffp-contract=off`):

* roi_pool (Girshick, Fast R-CNN, 2015): corners `round(v * s)` (half away from zero), bin i of a region of
  `n` cells spans `[floor(i n / p), ceil((i + 1) n / p))` from its corner, clamped to the map; each (region,
  channel, bin) keeps the first maximum in row-major order (a NaN, if any, wins) and its cell h * W + w, to
  which backward sends the gradient, region after region, as torch's scatter does: bit for bit the torch
  version's values and gradients. Two ways through the bins: one (region, channel) at a time, or a vector of
  channels at a time for maps whose channels are adjacent (channels-last) or that are worth copying so
  (8+ channels, bins covering at least half the maps' cells; copied in blocks that stay in cache).
* roi_align (He et al., Mask R-CNN, 2017): per region, each bin's `gy * gx` samples and their four bilinear
  weights `(1 - ly)(1 - lx), (1 - ly) lx, ly (1 - lx), ly lx` are computed once (torchvision's pre-calculation)
  and reused for every channel; a bin is the sum of its samples in order divided by `gy * gx` (torchvision's
  order; the torch version sums in torch's, so they agree to rounding); backward recomputes the weights and
  adds `(g / (gy * gx)) * w` to the four cells. With 8+ channels both run a vector of channels at a time, on
  channels-last copies (of the map, of the gradient), with the same operations per channel as one at a time.

Parallel with OpenMP, `torch.get_num_threads()` threads at most and one per 2^16 element operations: forward
over regions (and blocks of channels); backward over blocks of channels, so that no two threads add to one
cell. Without a compiler, with `DLBASIC_NO_NATIVE=1`, for CUDA tensors or other dtypes, `pooling.py` runs its
torch versions.
"""

from __future__ import annotations

import ctypes
import time

import torch

from dlbasic import _native_build
from dlbasic._native_build import FLAGS

SOURCE = r"""
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <omp.h>
#include <vector>

// pooling._c_round: sign(v) * floor(|v| + 0.5), in T
template <typename T> static inline T c_round(T v) {
  const T r = std::floor(std::fabs(v) + T(0.5));
  return v < 0 ? -r : r;
}

// v.clamp(0, limit).long() for an integer-valued v; NaN (a non-finite box) gives 0, an empty bin
template <typename T> static inline int64_t clamp_cell(T v, int64_t limit) {
  if (!(v > T(0))) return 0;
  if (v >= T(limit)) return limit;
  return (int64_t)v;
}

// true when every region's batch index b satisfies 0 <= (int64)b < N (torch's .long() truncates)
template <typename T> static int batch_ok(const T* rois, int64_t K, int64_t N) {
  for (int64_t k = 0; k < K; ++k) {
    const T b = rois[5 * k];
    if (!(b > T(-1) && b < T(N))) return 0;
  }
  return 1;
}

// Threads for `work` element operations: one per 2^19 (a few hundred microseconds), at most nt; smaller calls stay
// on the calling thread, where waking others (and waiting for them at the end) costs more than it saves
static inline int threads_for(int nt, double work) {
  return (int)std::max(1.0, std::min((double)nt, work / 524288.0));
}

// Fast R-CNN's quantized bins of one region: e[2i], e[2i+1] rows of bin row i; then columns of bin column j
template <typename T>
static void pool_edges(const T* r, T scale, int64_t H, int64_t W, int ph, int pw, int64_t* e) {
  const T sx = c_round(r[1] * scale), sy = c_round(r[2] * scale);
  const T ex = c_round(r[3] * scale), ey = c_round(r[4] * scale);
  T rw = ex - sx + T(1), rh = ey - sy + T(1);
  rw = rw < T(1) ? T(1) : rw;
  rh = rh < T(1) ? T(1) : rh;
  const T bh = rh / T(ph), bw = rw / T(pw);
  for (int i = 0; i < ph; ++i) {
    e[2 * i] = clamp_cell(std::floor(T(i) * bh) + sy, H);
    e[2 * i + 1] = clamp_cell(std::ceil(T(i + 1) * bh) + sy, H);
  }
  int64_t* ex_ = e + 2 * ph;
  for (int j = 0; j < pw; ++j) {
    ex_[2 * j] = clamp_cell(std::floor(T(j) * bw) + sx, W);
    ex_[2 * j + 1] = clamp_cell(std::ceil(T(j + 1) * bw) + sx, W);
  }
}

// The first maximum of one bin of one channel, in row-major order: without branches (vmaxss and a mask for the
// cell), then, where the bin holds a NaN, the exact loop (the first NaN wins). plane: the channel's cells at
// strides (sH, sW); returns the value and sets *where to the cell h * W + w
template <typename T>
static inline T bin_max(const T* plane, int64_t sH, int64_t sW, int64_t W, int64_t y0, int64_t y1, int64_t x0,
                        int64_t x1, int64_t* where_out) {
  T best = plane[y0 * sH + x0 * sW];
  int64_t where = y0 * W + x0;
  bool nan = false;
  for (int64_t y = y0; y < y1; ++y) {
    const T* row = plane + y * sH;
    for (int64_t xx = x0; xx < x1; ++xx) {
      const T v = row[xx * sW];
      const int64_t up = -(int64_t)(v > best);  // all ones where v is a new maximum: a mask, not a branch
      where = (where & ~up) | ((y * W + xx) & up);
      best = v > best ? v : best;
      nan |= v != v;
    }
  }
  if (nan) {
    best = plane[y0 * sH + x0 * sW];
    where = y0 * W + x0;
    for (int64_t y = y0; y < y1; ++y)
      for (int64_t xx = x0; xx < x1; ++xx) {
        const T v = plane[y * sH + xx * sW];
        if (v > best || (v != v && best == best)) {
          best = v;
          where = y * W + xx;
        }
      }
  }
  *where_out = where;
  return best;
}

// 8 x 8 floats transposed in registers: for maps whose planes are contiguous, xt's channels-last copy goes in
// such blocks (several times faster than element by element)
typedef float F8 __attribute__((vector_size(32)));
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define SHUFFLE8(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
typedef int32_t I8 __attribute__((vector_size(32)));
#define SHUFFLE8(a, b, ...) __builtin_shuffle(a, b, I8{__VA_ARGS__})
#endif

static inline void transpose8(F8* r) {
  F8 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = SHUFFLE8(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
    t[i + 1] = SHUFFLE8(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
  for (int i = 0; i < 8; i += 4)
    for (int j = 0; j < 2; ++j) {
      u[i + 2 * j] = SHUFFLE8(t[i + j], t[i + j + 2], 0, 1, 8, 9, 4, 5, 12, 13);
      u[i + 2 * j + 1] = SHUFFLE8(t[i + j], t[i + j + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    }
  for (int i = 0; i < 4; ++i) {
    r[i] = SHUFFLE8(u[i], u[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    r[i + 4] = SHUFFLE8(u[i], u[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
  }
}

// dst[j * ds + (i - i0)] = src[i * ss + j] for rows i in whole blocks of 8 from i0 (below i1) and columns j in
// [j0, j1) (8 at a time, then one by one; src's rows contiguous); returns the first row not copied. Only floats;
// other types copy element by element
template <typename T>
static int64_t transpose_blocks(const T*, int64_t, int64_t i0, int64_t, int64_t, int64_t, int64_t, T*) {
  return i0;
}
static int64_t transpose_blocks(const float* src, int64_t ss, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                                int64_t ds, float* dst) {
  int64_t i = i0;
  for (; i + 8 <= i1; i += 8) {
    int64_t j = j0;
    for (; j + 8 <= j1; j += 8) {
      F8 r[8];
      for (int l = 0; l < 8; ++l) std::memcpy(&r[l], src + (i + l) * ss + j, sizeof(F8));
      transpose8(r);
      for (int l = 0; l < 8; ++l) std::memcpy(dst + (j + l) * ds + (i - i0), &r[l], sizeof(F8));
    }
    for (; j < j1; ++j)
      for (int l = 0; l < 8; ++l) dst[j * ds + (i - i0) + l] = src[(i + l) * ss + j];
  }
  return i;
}

// xt[n][h][w][c - c0] = x[n, c, h, w] for c in [c0, c1) (x at any strides), in tiles of 64 cells; called inside a
// parallel region (ends with its barrier)
template <typename T>
static void to_channels_last(const T* x, int64_t N, int64_t c0, int64_t c1, int64_t H, int64_t W, int64_t sN,
                             int64_t sC, int64_t sH, int64_t sW, T* xt) {
  const int64_t HW = H * W, tiles = (HW + 63) / 64, Cb = c1 - c0;
  const bool flat = sW == 1 && sH == W;  // a plane's cell h * W + w sits at offset h * W + w
#pragma omp for schedule(static)
  for (int64_t t = 0; t < N * tiles; ++t) {
    const int64_t n = t / tiles, p0 = (t % tiles) * 64, p1 = std::min(HW, p0 + 64);
    const int64_t done = flat ? transpose_blocks(x + n * sN, sC, c0, c1, p0, p1, Cb, xt + n * HW * Cb) : c0;
    for (int64_t d0 = done; d0 < c1; d0 += 16) {
      const int64_t d1 = std::min(c1, d0 + 16);
      for (int64_t q = p0, h = p0 / W, w = p0 % W; q < p1; ++q) {
        const T* src = x + n * sN + h * sH + w * sW;
        T* dst = xt + (n * HW + q) * Cb - c0;
        for (int64_t c = d0; c < d1; ++c) dst[c] = src[c * sC];
        if (++w == W) w = 0, ++h;
      }
    }
  }
}

// x[n, c, h, w] = xt[n][h][w][c] (x contiguous), in tiles of 64 cells; called inside a parallel region (ends with
// its barrier)
template <typename T> static void from_channels_last(const T* xt, int64_t N, int64_t C, int64_t HW, T* x) {
  const int64_t tiles = (HW + 63) / 64;
#pragma omp for schedule(static)
  for (int64_t t = 0; t < N * tiles; ++t) {
    const int64_t n = t / tiles, p0 = (t % tiles) * 64, p1 = std::min(HW, p0 + 64);
    const T* src = xt + n * HW * C;
    T* dst = x + n * C * HW;
    const int64_t done = transpose_blocks(src, C, p0, p1, 0, C, HW, dst + p0);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t q = done; q < p1; ++q) dst[c * HW + q] = src[q * C + c];
  }
}

// 256-bit vectors of T (GCC/Clang vector extensions: SIMD where the CPU has it, plain code elsewhere), with
// integer lanes of T's width for masks and cells
template <typename T> struct Lanes;
template <> struct Lanes<float> {
  typedef float V __attribute__((vector_size(32)));
  typedef int32_t I;
  typedef int32_t M __attribute__((vector_size(32)));
};
template <> struct Lanes<double> {
  typedef double V __attribute__((vector_size(32)));
  typedef int64_t I;
  typedef int64_t M __attribute__((vector_size(32)));
};

// Every channel of a block at once, each cell's channels side by side (stride 1): per channel the same comparisons
// in the same order as bin_max, a vector of channels at a time (best and cell in registers). px: the region's
// image at strides (sH, sW), channel c0 first; best, where: [P][Cb] tiles
template <typename T>
static void pool_block(const T* px, int64_t sH, int64_t sW, int64_t W, const int64_t* ey, const int64_t* ex, int ph,
                       int pw, int64_t Cb, T* best, int32_t* where) {
  typedef typename Lanes<T>::V V;
  typedef typename Lanes<T>::M M;
  typedef typename Lanes<T>::I I;
  constexpr int64_t L = sizeof(V) / sizeof(T);
  for (int i = 0; i < ph; ++i)
    for (int j = 0; j < pw; ++j) {
      const int64_t y0 = ey[2 * i], y1 = ey[2 * i + 1], x0 = ex[2 * j], x1 = ex[2 * j + 1];
      T* bb = best + ((int64_t)i * pw + j) * Cb;
      int32_t* ww = where + ((int64_t)i * pw + j) * Cb;
      if (y1 <= y0 || x1 <= x0) {
        std::fill(bb, bb + Cb, T(0));
        std::fill(ww, ww + Cb, -1);
        continue;
      }
      int64_t c = 0;
      for (; c + L <= Cb; c += L) {
        V b;
        std::memcpy(&b, px + y0 * sH + x0 * sW + c, sizeof(V));
        M w = M{} + (I)(y0 * W + x0), bad = M{};
        for (int64_t y = y0; y < y1; ++y)
          for (int64_t xx = x0; xx < x1; ++xx) {
            V u;
            std::memcpy(&u, px + y * sH + xx * sW + c, sizeof(V));
            const M up = u > b;
            b = up ? u : b;
            w = up ? M{} + (I)(y * W + xx) : w;
            bad |= u != u;
          }
        std::memcpy(bb + c, &b, sizeof(V));
        if (sizeof(I) == sizeof(int32_t))
          std::memcpy(ww + c, &w, sizeof(M));
        else
          for (int64_t l = 0; l < L; ++l) ww[c + l] = (int32_t)w[l];
        uint64_t any[sizeof(M) / 8];
        std::memcpy(any, &bad, sizeof(M));
        if (any[0] | any[1] | any[2] | any[3]) break;  // a NaN: this vector and the rest take the exact loop below
      }
      for (; c < Cb; ++c) {
        int64_t w;
        bb[c] = bin_max(px + c, sH, sW, W, y0, y1, x0, x1, &w);
        ww[c] = (int32_t)w;
      }
    }
}

// x: any strides (sN, sC, sH, sW); out [K, C, ph, pw] contiguous; arg (nullable) the same shape, the cell
// h * W + w of each maximum (-1: empty bin); batch [K] the regions' batch indices. path: 1 one (region, channel)
// at a time, 2 channels side by side (vectorized; a map whose channels are not adjacent is transposed first),
// 0 picks: 2 for channels-last maps, and for others with 8 or more channels where the regions' bins cover at
// least half the maps' cells (the transposition's cost)
template <typename T>
static int roi_pool_fwd(const T* x, int64_t N, int64_t C, int64_t H, int64_t W, int64_t sN, int64_t sC,
                        int64_t sH, int64_t sW, const T* rois, int64_t K, int ph, int pw, double scale_d, T* out,
                        int32_t* arg, int64_t* batch, int path, int nt) {
  if (!batch_ok(rois, K, N)) return 1;
  const T scale = T(scale_d);
  const int64_t P = (int64_t)ph * pw, E = 2 * (int64_t)(ph + pw), KC = K * C, HW = H * W;
  std::vector<int64_t> edges(K * E);
  int64_t cells = 0;  // cells read, summed over every region's bins
  for (int64_t k = 0; k < K; ++k) {
    int64_t* e = edges.data() + k * E;
    pool_edges(rois + 5 * k, scale, H, W, ph, pw, e);
    batch[k] = (int64_t)rois[5 * k];
    int64_t rows = 0, cols = 0;
    for (int i = 0; i < ph; ++i) rows += std::max<int64_t>(e[2 * i + 1] - e[2 * i], 0);
    for (int j = 0; j < pw; ++j) cols += std::max<int64_t>(e[2 * ph + 2 * j + 1] - e[2 * ph + 2 * j], 0);
    cells += rows * cols;
  }
  const bool adjacent = sC == 1 || C == 1;
  if (path == 0) path = (adjacent && C > 1) || (C >= 8 && 2 * cells >= N * HW) ? 2 : 1;
  // element operations: a cell's comparison (an eighth of one where a vector holds 8 channels), a copied cell
  const double copied = adjacent || path == 1 ? 0 : (double)(N * HW);
  nt = threads_for(nt, C * ((double)cells / (path == 1 ? 1 : 8) + (double)(P * K) + copied));
  if (path == 1) {
    const int64_t chunk = std::max<int64_t>(1, KC / (16 * (int64_t)std::max(nt, 1)));
#pragma omp parallel for schedule(dynamic, chunk) num_threads(nt) if (nt > 1)
    for (int64_t t = 0; t < KC; ++t) {
      const int64_t k = t / C, c = t % C;
      const int64_t* ey = edges.data() + k * E;
      const int64_t* ex = ey + 2 * ph;
      const T* plane = x + batch[k] * sN + c * sC;
      for (int i = 0; i < ph; ++i)
        for (int j = 0; j < pw; ++j) {
          const int64_t q = t * P + (int64_t)i * pw + j;
          const int64_t y0 = ey[2 * i], y1 = ey[2 * i + 1], x0 = ex[2 * j], x1 = ex[2 * j + 1];
          int64_t where = -1;
          out[q] = y1 <= y0 || x1 <= x0 ? T(0) : bin_max(plane, sH, sW, W, y0, y1, x0, x1, &where);
          if (arg) arg[q] = (int32_t)where;
        }
    }
    return 0;
  }
  // a map whose channels are not adjacent is copied channels-last first; tasks: (region, block of at most 256
  // channels), so that the [P][width] tiles stay in cache. Two barriers in all (each may wait for a thread that
  // a busy machine has not scheduled)
  const int64_t width = std::min<int64_t>(C, 256), blocks = (C + width - 1) / width;
  std::unique_ptr<T[]> xt(adjacent ? nullptr : new T[N * HW * C]);
  const T* xc = adjacent ? x : xt.get();
  const int64_t cN = adjacent ? sN : HW * C, cH = adjacent ? sH : W * C, cW = adjacent ? sW : C;
  std::vector<T> bests(nt * P * width);  // each thread's tiles (nothing allocates inside)
  std::vector<int32_t> wheres(nt * P * width);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    if (!adjacent) to_channels_last(x, N, 0, C, H, W, sN, sC, sH, sW, xt.get());
    T* best = bests.data() + omp_get_thread_num() * P * width;
    int32_t* where = wheres.data() + omp_get_thread_num() * P * width;
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < K * blocks; ++t) {
      const int64_t k = t / blocks, c0 = (t % blocks) * width, Cb = std::min(C, c0 + width) - c0;
      const int64_t* ey = edges.data() + k * E;
      pool_block(xc + batch[k] * cN + c0, cH, cW, W, ey, ey + 2 * ph, ph, pw, Cb, best, where);
      for (int64_t c = 0; c < Cb; ++c) {
        T* o = out + (k * C + c0 + c) * P;
        int32_t* a = arg ? arg + (k * C + c0 + c) * P : nullptr;
        for (int64_t q = 0; q < P; ++q) {
          o[q] = best[q * Cb + c];
          if (a) a[q] = where[q * Cb + c];
        }
      }
    }
  }
  return 0;
}

// grad [K, C, ph, pw] with strides (gk, gc, gi, gj); gx [N, C, H, W] contiguous, written whole. Each thread owns
// a block of channels (no two threads add to one cell) and walks the regions in order, reading each region's
// block of argmax and grad in one stretch
template <typename T>
static int roi_pool_bwd(const T* g, int64_t gk, int64_t gc, int64_t gi, int64_t gj, const int32_t* arg,
                         const int64_t* batch, int64_t K, int64_t N, int64_t C, int64_t H, int64_t W, int ph, int pw,
                         T* gx, int nt) {
  const int64_t HW = H * W, P = (int64_t)ph * pw;
  nt = threads_for(nt, (double)(N * HW + K * P) * C);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int64_t nth = omp_get_num_threads(), tid = omp_get_thread_num();
    const int64_t c0 = C * tid / nth, c1 = C * (tid + 1) / nth;
    for (int64_t n = 0; n < N; ++n) std::fill(gx + (n * C + c0) * HW, gx + (n * C + c1) * HW, T(0));
    for (int64_t k = 0; k < K; ++k) {
      for (int64_t c = c0; c < c1; ++c) {
        T* plane = gx + (batch[k] * C + c) * HW;
        const int32_t* a = arg + (k * C + c) * P;
        const T* go = g + k * gk + c * gc;
        for (int i = 0; i < ph; ++i)
          for (int j = 0; j < pw; ++j) {
            const int32_t w = a[i * pw + j];
            if (w >= 0) plane[w] += go[i * gi + j * gj];
          }
      }
    }
  }
  return 0;
}

// one bilinear sample: four cell offsets (p[0] < 0: outside the map, contributes nothing) and weights
template <typename T> struct Sample {
  int64_t p[4];
  T w[4];
};

template <typename T> static inline int grid_size(T v) {  // ceil(...).long().clamp(min=0); NaN -> 0
  if (!(v > T(0))) return 0;
  return v > T(1 << 20) ? (1 << 20) : (int)v;
}

// RoI Align's geometry of region r: its corner (sx, sy), bin sizes (bw, bh) and samples per bin side (gx, gy)
template <typename T> struct AlignGeometry {
  T sx, sy, bw, bh;
  int gx, gy;
};

template <typename T>
static AlignGeometry<T> align_geometry(const T* r, T scale, bool aligned, int ph, int pw, int ratio) {
  const T off = aligned ? T(0.5) : T(0);
  const T sx = r[1] * scale - off, sy = r[2] * scale - off;
  T rw = r[3] * scale - off - sx, rh = r[4] * scale - off - sy;
  if (!aligned) {
    rw = std::max(rw, T(1));
    rh = std::max(rh, T(1));
  }
  const int gy = ratio > 0 ? ratio : grid_size(std::ceil(rh / T(ph)));
  const int gx = ratio > 0 ? ratio : grid_size(std::ceil(rw / T(pw)));
  return {sx, sy, rw / T(pw), rh / T(ph), gx, gy};
}

// samples of all regions' bins (for picking the number of threads) and the most of one region (*most)
template <typename T>
static double align_work(const T* rois, int64_t K, T scale, bool aligned, int ph, int pw, int ratio, double* most) {
  double samples = 0;
  *most = 0;
  for (int64_t k = 0; k < K; ++k) {
    const AlignGeometry<T> g = align_geometry(rois + 5 * k, scale, aligned, ph, pw, ratio);
    samples += (double)g.gx * g.gy;
    *most = std::max(*most, (double)g.gx * g.gy * ph * pw);
  }
  return samples * ph * pw;
}

// the most samples of one region the kernels take (48 MB of them in float32); more: the torch versions run
static const double MAX_SAMPLES = 1 << 20;

// RoI Align's samples of region r (torchvision's pre_calc_for_bilinear_interpolate): offsets within a plane
// of strides (sH, sW); returns gy * gx (0: the region has no samples)
template <typename T>
static int64_t align_samples(const T* r, T scale, bool aligned, int64_t H, int64_t W, int64_t sH, int64_t sW,
                             int ph, int pw, int ratio, Sample<T>* s) {
  const AlignGeometry<T> g = align_geometry(r, scale, aligned, ph, pw, ratio);
  const T sx = g.sx, sy = g.sy, bw = g.bw, bh = g.bh;
  const int gx = g.gx, gy = g.gy;
  if (gy == 0 || gx == 0) return 0;
  Sample<T>* o = s;
  for (int i = 0; i < ph; ++i)
    for (int j = 0; j < pw; ++j)
      for (int iy = 0; iy < gy; ++iy) {
        const T yy = sy + T(i) * bh + T(iy + 0.5) * bh / T(gy);
        for (int ix = 0; ix < gx; ++ix, ++o) {
          T y = yy, x = sx + T(j) * bw + T(ix + 0.5) * bw / T(gx);
          if (!(y >= T(-1) && y <= T(H) && x >= T(-1) && x <= T(W))) {
            o->p[0] = -1;
            continue;
          }
          if (y <= T(0)) y = T(0);
          if (x <= T(0)) x = T(0);
          int64_t y0 = (int64_t)y, x0 = (int64_t)x, y1, x1;
          T ly, lx;
          if (y0 >= H - 1) {
            y0 = y1 = H - 1;
            ly = T(0);
          } else {
            y1 = y0 + 1;
            ly = y - T(y0);
          }
          if (x0 >= W - 1) {
            x0 = x1 = W - 1;
            lx = T(0);
          } else {
            x1 = x0 + 1;
            lx = x - T(x0);
          }
          const T hy = T(1) - ly, hx = T(1) - lx;
          o->w[0] = hy * hx;
          o->w[1] = hy * lx;
          o->w[2] = ly * hx;
          o->w[3] = ly * lx;
          o->p[0] = y0 * sH + x0 * sW;
          o->p[1] = y0 * sH + x1 * sW;
          o->p[2] = y1 * sH + x0 * sW;
          o->p[3] = y1 * sH + x1 * sW;
        }
      }
  return (int64_t)gy * gx;
}

// out [K, C, ph, pw] contiguous. path 1: one (region, channel) at a time, tasks (region, block of channels), blocks
// only where regions are few; path 2: a vector of channels at a time (each sample's four cells read as rows of
// adjacent channels: the same operations per channel, vectorized), on maps copied channels-last where their
// channels are not adjacent. 0 picks 2 for 8+ channels, channels-last maps or where the samples' reads (4 per
// sample) outnumber the cells to copy
template <typename T>
static int roi_align_fwd(const T* x, int64_t N, int64_t C, int64_t H, int64_t W, int64_t sN, int64_t sC,
                         int64_t sH, int64_t sW, const T* rois, int64_t K, int ph, int pw, double scale_d,
                         int ratio, int aligned, T* out, int path, int nt) {
  if (!batch_ok(rois, K, N)) return 1;
  const T scale = T(scale_d);
  const int64_t P = (int64_t)ph * pw, HW = H * W;
  double most;
  const double samples = align_work(rois, K, scale, aligned != 0, ph, pw, ratio, &most);
  if (most > MAX_SAMPLES) return 2;
  const bool adjacent = sC == 1 || C == 1;
  if (path == 0) path = C >= 8 && (adjacent || 4 * samples >= (double)(N * HW)) ? 2 : 1;
  std::vector<Sample<T>> buffers;  // each thread's samples (nothing allocates inside the parallel regions)
  if (path == 1) {
    nt = threads_for(nt, 4 * C * samples);
    buffers.resize((size_t)(nt * most));
    const int64_t want = 4 * (int64_t)std::max(nt, 1);
    const int64_t blocks = K >= want ? 1 : std::min<int64_t>(C, (want + K - 1) / K);
    const int64_t width = (C + blocks - 1) / blocks;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
      Sample<T>* s = buffers.data() + (int64_t)omp_get_thread_num() * (int64_t)most;
#pragma omp for schedule(dynamic, 1)
      for (int64_t t = 0; t < K * blocks; ++t) {
        const int64_t k = t / blocks, c0 = (t % blocks) * width, c1 = std::min(C, c0 + width);
        const T* r = rois + 5 * k;
        const int64_t count = align_samples(r, scale, aligned != 0, H, W, sH, sW, ph, pw, ratio, s);
        for (int64_t c = c0; c < c1; ++c) {
          T* o = out + (k * C + c) * P;
          if (count == 0) {
            std::fill(o, o + P, T(0));
            continue;
          }
          const T* plane = x + (int64_t)r[0] * sN + c * sC;
          const Sample<T>* q = s;
          for (int64_t bin = 0; bin < P; ++bin) {
            T acc = T(0);
            for (int64_t n = 0; n < count; ++n, ++q)
              if (q->p[0] >= 0)
                acc += q->w[0] * plane[q->p[0]] + q->w[1] * plane[q->p[1]] + q->w[2] * plane[q->p[2]] +
                       q->w[3] * plane[q->p[3]];
            o[bin] = acc / T(count);
          }
        }
      }
    }
    return 0;
  }
  // path 2: tasks (region, block of at most 256 channels)
  nt = threads_for(nt, C * (samples / 2 + (double)(adjacent ? 0 : N * HW) + (double)(P * K)));
  buffers.resize((size_t)(nt * most));
  const int64_t width = std::min<int64_t>(C, 256), blocks = (C + width - 1) / width;
  std::unique_ptr<T[]> xt(adjacent ? nullptr : new T[N * HW * C]);
  const T* xc = adjacent ? x : xt.get();
  const int64_t cN = adjacent ? sN : HW * C, cH = adjacent ? sH : W * C, cW = adjacent ? sW : C;
  std::vector<T> sums(nt * width);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    if (!adjacent) to_channels_last(x, N, 0, C, H, W, sN, sC, sH, sW, xt.get());
    Sample<T>* s = buffers.data() + (int64_t)omp_get_thread_num() * (int64_t)most;
    T* __restrict acc = sums.data() + omp_get_thread_num() * width;
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < K * blocks; ++t) {
      const int64_t k = t / blocks, c0 = (t % blocks) * width, Cb = std::min(C, c0 + width) - c0;
      const T* r = rois + 5 * k;
      const int64_t count = align_samples(r, scale, aligned != 0, H, W, cH, cW, ph, pw, ratio, s);
      const T* px = xc + (int64_t)r[0] * cN + c0;
      const Sample<T>* q = s;
      for (int64_t bin = 0; bin < P; ++bin) {
        std::fill(acc, acc + Cb, T(0));
        for (int64_t n = 0; n < count; ++n, ++q) {
          if (q->p[0] < 0) continue;
          const T w0 = q->w[0], w1 = q->w[1], w2 = q->w[2], w3 = q->w[3];
          const T *__restrict v0 = px + q->p[0], *__restrict v1 = px + q->p[1];
          const T *__restrict v2 = px + q->p[2], *__restrict v3 = px + q->p[3];
          for (int64_t c = 0; c < Cb; ++c) acc[c] += w0 * v0[c] + w1 * v1[c] + w2 * v2[c] + w3 * v3[c];
        }
        T* o = out + (k * C + c0) * P + bin;
        if (count == 0)
          for (int64_t c = 0; c < Cb; ++c) o[c * P] = T(0);
        else
          for (int64_t c = 0; c < Cb; ++c) o[c * P] = acc[c] / T(count);
      }
    }
  }
  return 0;
}

// roi_align's backward a vector of channels at a time: into a channels-last copy of the gradient, transposed into
// gx at the end. Each thread owns a block of channels (its bounds multiples of 16: no cache line shared) and
// walks every region; per channel the same additions in the same order as one channel at a time
template <typename T>
static int roi_align_bwd_vectors(const T* g, int64_t gk, int64_t gc, int64_t gi, int64_t gj, const T* rois,
                                 int64_t K, int64_t N, int64_t C, int64_t H, int64_t W, int ph, int pw, T scale,
                                 int ratio, bool aligned, T* gx, double work, double most, int nt) {
  const int64_t HW = H * W;
  nt = threads_for(nt, C * (2.0 * (double)(N * HW) + work / 2));
  std::vector<Sample<T>> buffers((size_t)(nt * most));
  std::vector<T> bins(nt * C);
  std::unique_ptr<T[]> gt(new T[N * HW * C]);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int64_t nth = omp_get_num_threads(), tid = omp_get_thread_num();
    const int64_t c0 = C * tid / nth / 16 * 16, c1 = tid == nth - 1 ? C : C * (tid + 1) / nth / 16 * 16;
    const int64_t Cb = c1 - c0;
    Sample<T>* s = buffers.data() + tid * (int64_t)most;
    T* gb = bins.data() + tid * C;
    for (int64_t q = 0; q < N * HW && Cb > 0; ++q) std::fill(gt.get() + q * C + c0, gt.get() + q * C + c1, T(0));
    // sub-blocks of at most 256 channels: an image's rows of them stay in cache while the regions add to them
    for (int64_t b0 = c0; b0 < c1; b0 += 256) {
      const int64_t Cs = std::min<int64_t>(c1 - b0, 256);
      for (int64_t k = 0; k < K; ++k) {
        const T* r = rois + 5 * k;
        const int64_t count = align_samples(r, scale, aligned, H, W, W * C, C, ph, pw, ratio, s);
        if (count == 0) continue;
        T* pb = gt.get() + (int64_t)r[0] * HW * C + b0;
        const Sample<T>* q = s;
        for (int i = 0; i < ph; ++i)
          for (int j = 0; j < pw; ++j) {
            const T* go = g + k * gk + b0 * gc + i * gi + j * gj;
            for (int64_t c = 0; c < Cs; ++c) gb[c] = go[c * gc] / T(count);
            for (int64_t n = 0; n < count; ++n, ++q) {
              if (q->p[0] < 0) continue;
              const T w0 = q->w[0], w1 = q->w[1], w2 = q->w[2], w3 = q->w[3];
              T *v0 = pb + q->p[0], *v1 = pb + q->p[1], *v2 = pb + q->p[2], *v3 = pb + q->p[3];
              for (int64_t c = 0; c < Cs; ++c) {  // v0..v3 may be one cell (at the map's edge): added in order
                v0[c] += gb[c] * w0;
                v1[c] += gb[c] * w1;
                v2[c] += gb[c] * w2;
                v3[c] += gb[c] * w3;
              }
            }
          }
      }
    }
#pragma omp barrier
    from_channels_last(gt.get(), N, C, HW, gx);
  }
  return 0;
}

// grad [K, C, ph, pw] with strides (gk, gc, gi, gj); gx [N, C, H, W] contiguous, written whole; each thread
// owns a block of channels and walks every region
template <typename T>
static int roi_align_bwd(const T* g, int64_t gk, int64_t gc, int64_t gi, int64_t gj, const T* rois, int64_t K,
                          int64_t N, int64_t C, int64_t H, int64_t W, int ph, int pw, double scale_d, int ratio,
                          int aligned, T* gx, int path, int nt) {
  const T scale = T(scale_d);
  const int64_t HW = H * W;
  double most;
  const double work = align_work(rois, K, scale, aligned != 0, ph, pw, ratio, &most);
  if (most > MAX_SAMPLES) return 2;
  if (path == 0) path = C >= 8 ? 2 : 1;
  if (path == 2) return roi_align_bwd_vectors(g, gk, gc, gi, gj, rois, K, N, C, H, W, ph, pw, scale, ratio,
                                              aligned != 0, gx, work, most, nt);
  nt = threads_for(nt, (double)(N * HW) * C + 4 * C * work);
  std::vector<Sample<T>> buffers((size_t)(nt * most));
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int64_t nth = omp_get_num_threads(), tid = omp_get_thread_num();
    const int64_t c0 = C * tid / nth, c1 = C * (tid + 1) / nth;
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t n = 0; n < N; ++n) std::fill(gx + (n * C + c) * HW, gx + (n * C + c + 1) * HW, T(0));
    Sample<T>* s = buffers.data() + tid * (int64_t)most;
    for (int64_t k = 0; k < K && c0 < c1; ++k) {
      const T* r = rois + 5 * k;
      const int64_t count = align_samples(r, scale, aligned != 0, H, W, W, 1, ph, pw, ratio, s);
      if (count == 0) continue;
      const int64_t per_bin = count;
      for (int64_t c = c0; c < c1; ++c) {
        T* plane = gx + ((int64_t)r[0] * C + c) * HW;
        const T* go = g + k * gk + c * gc;
        const Sample<T>* q = s;
        for (int i = 0; i < ph; ++i)
          for (int j = 0; j < pw; ++j) {
            const T gb = go[i * gi + j * gj] / T(count);
            for (int64_t n = 0; n < per_bin; ++n, ++q) {
              if (q->p[0] < 0) continue;
              plane[q->p[0]] += gb * q->w[0];
              plane[q->p[1]] += gb * q->w[1];
              plane[q->p[2]] += gb * q->w[2];
              plane[q->p[3]] += gb * q->w[3];
            }
          }
      }
    }
  }
  return 0;
}

// The exported functions return 0, 1 where a batch index is outside the batch, 2 where memory ran out (or a
// region has more than MAX_SAMPLES samples); no C++ exception crosses into Python. Nothing allocates inside the
// parallel regions, where an exception could not be caught.
#define CAUGHT(...)                \
  try {                            \
    return __VA_ARGS__;            \
  } catch (const std::exception&) { \
    return 2;                      \
  }

#define ROI_EXPORTS(T, S)                                                                                        \
  extern "C" int roi_batch_ok_##S(const T* rois, int64_t K, int64_t N) { return batch_ok(rois, K, N); }        \
  extern "C" int roi_pool_forward_##S(const T* x, int64_t N, int64_t C, int64_t H, int64_t W, int64_t sN,       \
                                      int64_t sC, int64_t sH, int64_t sW, const T* rois, int64_t K, int ph,     \
                                      int pw, double scale, T* out, int32_t* arg, int64_t* batch, int path,     \
                                      int nt) {                                                                 \
    CAUGHT(roi_pool_fwd(x, N, C, H, W, sN, sC, sH, sW, rois, K, ph, pw, scale, out, arg, batch, path, nt))      \
  }                                                                                                             \
  extern "C" int roi_pool_backward_##S(const T* g, int64_t gk, int64_t gc, int64_t gi, int64_t gj,             \
                                       const int32_t* arg, const int64_t* batch, int64_t K, int64_t N,          \
                                       int64_t C, int64_t H, int64_t W, int ph, int pw, T* gx, int nt) {        \
    CAUGHT(roi_pool_bwd(g, gk, gc, gi, gj, arg, batch, K, N, C, H, W, ph, pw, gx, nt))                          \
  }                                                                                                             \
  extern "C" int roi_align_forward_##S(const T* x, int64_t N, int64_t C, int64_t H, int64_t W, int64_t sN,      \
                                       int64_t sC, int64_t sH, int64_t sW, const T* rois, int64_t K, int ph,    \
                                       int pw, double scale, int ratio, int aligned, T* out, int path, int nt) { \
    CAUGHT(roi_align_fwd(x, N, C, H, W, sN, sC, sH, sW, rois, K, ph, pw, scale, ratio, aligned, out, path, nt)) \
  }                                                                                                             \
  extern "C" int roi_align_backward_##S(const T* g, int64_t gk, int64_t gc, int64_t gi, int64_t gj,            \
                                        const T* rois, int64_t K, int64_t N, int64_t C, int64_t H, int64_t W,   \
                                        int ph, int pw, double scale, int ratio, int aligned, T* gx, int path,  \
                                        int nt) {                                                               \
    CAUGHT(roi_align_bwd(g, gk, gc, gi, gj, rois, K, N, C, H, W, ph, pw, scale, ratio, aligned, gx, path, nt))  \
  }

ROI_EXPORTS(float, f32)
ROI_EXPORTS(double, f64)
"""

DTYPES = (torch.float32, torch.float64)
_lib: ctypes.CDLL | None = None
_tried = False
build_seconds: float | None = None  # first-use cost of this process: compile (or load) time

_P, _I64, _I32, _D = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.c_double
_SIGNATURES = {  # name: (argument types, result type)
    "roi_batch_ok": ([_P, _I64, _I64], _I32),
    "roi_pool_forward": ([_P, *[_I64] * 8, _P, _I64, _I32, _I32, _D, _P, _P, _P, _I32, _I32], _I32),
    "roi_pool_backward": ([_P, *[_I64] * 4, _P, _P, *[_I64] * 5, _I32, _I32, _P, _I32], _I32),
    "roi_align_forward": ([_P, *[_I64] * 8, _P, _I64, _I32, _I32, _D, _I32, _I32, _P, _I32, _I32], _I32),
    "roi_align_backward": ([_P, *[_I64] * 4, _P, *[_I64] * 5, _I32, _I32, _D, _I32, _I32, _P, _I32, _I32], _I32),
}
_functions: dict[tuple[str, torch.dtype], ctypes._CFuncPtr] = {}


def library_path(compiler: str):
    """Where the compiled RoI kernels for this source, compiler, flags and CPU are cached."""
    return _native_build.library_path("roi_kernels", SOURCE, compiler, FLAGS)


def load() -> ctypes.CDLL | None:
    """The kernel library, building it on first use (said on stderr); None where it cannot be built. Tried once
    per process."""
    global _lib, _tried, build_seconds
    if _tried:
        return _lib
    _tried = True
    if _native_build.disabled():
        return None
    compiler = _native_build.compiler()
    if compiler is None:
        _native_build.say(
            "no C++ compiler found (CXX, c++, g++, clang++): roi_pool and roi_align run their torch versions "
            "(DLBASIC_NO_NATIVE=1 picks them without this message)"
        )
        return None
    t0 = time.perf_counter()
    fallback = "roi_pool and roi_align run their torch versions instead"
    lib = _native_build.load_library(
        library_path(compiler), SOURCE, compiler, FLAGS, "the RoI pooling kernels", fallback, "about 5 s"
    )
    if lib is not None:
        for name, (argtypes, restype) in _SIGNATURES.items():
            for suffix, dtype in (("f32", torch.float32), ("f64", torch.float64)):
                fn = getattr(lib, f"{name}_{suffix}")
                fn.argtypes, fn.restype = argtypes, restype
                _functions[(name, dtype)] = fn
    _lib = lib
    build_seconds = time.perf_counter() - t0
    return _lib


def available() -> bool:
    return load() is not None


def function(name: str, dtype: torch.dtype) -> ctypes._CFuncPtr:
    """The exported kernel `name` for tensors of `dtype` (float32 or float64); needs `available()`."""
    return _functions[(name, dtype)]
