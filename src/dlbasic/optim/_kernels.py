"""C++ source of the fused CPU update kernels (one pass over memory per optimizer step).

Each kernel walks a list of tensors; inside a tensor the elements are split over OpenMP threads.
Per-tensor coefficients that depend on the step count (bias corrections, decayed learning rates)
are computed in Python and passed as arrays. The element formulas follow the single-tensor loops
of the optimizer files, in the same order of operations, so float64 results agree to rounding.
Runtime flags (maximize, weight decay, momentum, ...) become template arguments, so each variant is
a branch-free loop that the compiler vectorizes.
AdamP and SGDP need two passes over a weight they may project: whether they do depends on sums over
the whole weight (see the comment above `AdamPRule`); their sums are taken in double, in another
order than torch's, so they agree with the reference to rounding but not bit for bit.
No torch headers are used: the library compiles in a few seconds with a plain C++ compiler.
"""

SOURCE = r"""
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <omp.h>
#include <type_traits>
#include <vector>

// Element formulas are written as ATen's CPU kernels evaluate them: addcmul is self + (v * t1) * t2,
// addcdiv is self + (v * t1) / t2; the vectorized add(alpha) and lerp are fused multiply-adds.
// lerp's two forms are picked by a template flag: a select inside the loop stops GCC vectorizing it.
template <typename T, bool small> static inline T lerp(T a, T b, T w) {
  return small ? std::fma(w, b - a, a) : std::fma(w - T(1), b - a, b);
}

#define TENSOR_LOOP(...)                                        \
  _Pragma("omp parallel num_threads(nt)")                       \
  for (int t = 0; t < n; ++t) {                                 \
    const int64_t len = N[t];                                   \
    __VA_ARGS__                                                 \
  }

// The library is built preferring 256-bit vectors (see _native.FLAGS); the kernels between these two marks
// prefer 512-bit ones where the CPU has them, which measured faster for them (Adagrad, Adam) on an AVX-512
// AMD EPYC, while SGD's loops were ~8% slower with 512-bit vectors there.
#if defined(__AVX512F__) && defined(__GNUC__) && !defined(__clang__)
#define WIDE_VECTORS_BEGIN _Pragma("GCC push_options") _Pragma("GCC target(\"prefer-vector-width=512\")")
#define WIDE_VECTORS_END _Pragma("GCC pop_options")
#else
#define WIDE_VECTORS_BEGIN
#define WIDE_VECTORS_END
#endif

// Calls f(std::true_type{}) or f(std::false_type{}): turns a runtime flag into a template argument, so
// that each combination of flags is its own branch-free loop that GCC vectorizes.
template <typename F> static inline void with_flag(bool b, F&& f) {
  if (b) f(std::true_type{}); else f(std::false_type{});
}

template <typename T, bool maximize, bool decay, bool momentum, bool nesterov, bool first>
static inline void sgd_loop(T* __restrict p, const T* __restrict g, T* __restrict b, int64_t len, T lr, T wd,
                            T mom, T damp1) {
  _Pragma("omp for schedule(static) nowait")
  for (int64_t i = 0; i < len; ++i) {
    T d = maximize ? -g[i] : g[i];
    if (decay) d = std::fma(p[i], wd, d);
    if (momentum) {
      const T buf = first ? d : std::fma(d, damp1, b[i] * mom);
      b[i] = buf;
      d = nesterov ? std::fma(buf, mom, d) : buf;
    }
    p[i] = std::fma(d, -lr, p[i]);
  }
}

// first[t]: the momentum buffer of tensor t is new (buffer = grad)
template <typename T, bool maximize, bool decay, bool momentum, bool nesterov>
static void sgd_t(int n, void** P, void** G, void** B, const int64_t* N, const int32_t* first, T lr, T wd,
                  T mom, T damp1, int nt) {
  TENSOR_LOOP(
    T* p = (T*)P[t]; const T* g = (const T*)G[t]; T* b = momentum ? (T*)B[t] : nullptr;
    if (momentum && first[t])
      sgd_loop<T, maximize, decay, momentum, nesterov, true>(p, g, b, len, lr, wd, mom, damp1);
    else
      sgd_loop<T, maximize, decay, momentum, nesterov, false>(p, g, b, len, lr, wd, mom, damp1);
  )
}

template <typename T>
static void sgd(int n, void** P, void** G, void** B, const int64_t* N, const int32_t* first, double lr,
                double wd, double mom, double damp, int maximize, int nesterov, int nt) {
  const T lr_ = lr, wd_ = wd, mom_ = mom, damp1 = T(1) - T(damp);
  with_flag(maximize, [&](auto MX) { with_flag(wd != 0, [&](auto WD) {
    if (mom == 0) {
      sgd_t<T, MX, WD, false, false>(n, P, G, B, N, first, lr_, wd_, mom_, damp1, nt);
    } else {
      with_flag(nesterov, [&](auto NS) {
        sgd_t<T, MX, WD, true, NS>(n, P, G, B, N, first, lr_, wd_, mom_, damp1, nt);
      });
    }
  }); });
}

// The step counters of kernels that count steps: with kind 1 or 2, float32 or float64 scalar tensors to which
// the kernel adds 1 (as torch._foreach_add_(steps, 1) would); with kind 0, the new counts already, as doubles.
static std::vector<double> next_steps(int n, const void* steps, int kind) {
  std::vector<double> t(n);
  for (int i = 0; i < n; ++i) {
    if (kind == 1) {
      float* s = ((float* const*)steps)[i];
      *s = *s + 1.0f;
      t[i] = *s;
    } else if (kind == 2) {
      double* s = ((double* const*)steps)[i];
      *s = *s + 1.0;
      t[i] = *s;
    } else {
      t[i] = ((const double*)steps)[i];
    }
  }
  return t;
}

WIDE_VECTORS_BEGIN
template <typename T, bool maximize, bool decay>
static void adagrad_t(int n, void** P, void** G, void** S, const int64_t* N, const double* clr, T wd, T eps,
                      int nt) {
  TENSOR_LOOP(
    T* __restrict p = (T*)P[t]; const T* __restrict g = (const T*)G[t]; T* __restrict s = (T*)S[t];
    const T c = -T(clr[t]);
    _Pragma("omp for schedule(static) nowait")
    for (int64_t i = 0; i < len; ++i) {
      T d = maximize ? -g[i] : g[i];
      if (decay) d = std::fma(p[i], wd, d);
      const T sum = s[i] + d * d;
      s[i] = sum;
      p[i] = p[i] + (c * d) / (std::sqrt(sum) + eps);
    })
}

// clr[t] = lr / (1 + (step - 1) lr_decay), in double as in adagrad.py
template <typename T>
static void adagrad(int n, void** P, void** G, void** S, const int64_t* N, const void* steps, int kind, double lr,
                    double lr_decay, double wd, double eps, int maximize, int nt) {
  std::vector<double> clr = next_steps(n, steps, kind);
  for (double& c : clr) c = lr / (1 + (c - 1) * lr_decay);
  with_flag(maximize, [&](auto MX) { with_flag(wd != 0, [&](auto WD) {
    adagrad_t<T, MX, WD>(n, P, G, S, N, clr.data(), T(wd), T(eps), nt);
  }); });
}

WIDE_VECTORS_END

template <typename T>
static void adadelta(int n, void** P, void** G, void** S, void** A, const int64_t* N, double lr_, double rho_,
                     double eps_, double wd_, int maximize, int nt) {
  const T lr = lr_, rho = rho_, rho1 = T(1) - T(rho_), eps = eps_, wd = wd_;
  TENSOR_LOOP(
    T* p = (T*)P[t]; const T* g = (const T*)G[t]; T* s = (T*)S[t]; T* a = (T*)A[t];
    _Pragma("omp for schedule(static) nowait")
    for (int64_t i = 0; i < len; ++i) {
      T d = maximize ? -g[i] : g[i];
      if (wd != T(0)) d = std::fma(p[i], wd, d);
      const T sq = s[i] * rho + (rho1 * d) * d;
      s[i] = sq;
      const T delta = std::sqrt(a[i] + eps) / std::sqrt(sq + eps) * d;
      a[i] = a[i] * rho + (rho1 * delta) * delta;
      p[i] = std::fma(delta, -lr, p[i]);
    })
}

template <typename T, bool centered, bool momentum, bool small>
static void rmsprop_t(int n, void** P, void** G, void** S, void** GA, void** B, const int64_t* N, double lr_,
                      double alpha_, double eps_, double wd_, double mom_, int maximize, int nt) {
  const T lr = lr_, alpha = alpha_, alpha1 = T(1) - T(alpha_), eps = eps_, wd = wd_, mom = mom_;
  TENSOR_LOOP(
    T* p = (T*)P[t]; const T* g = (const T*)G[t]; T* s = (T*)S[t]; T* ga = (T*)GA[t]; T* b = (T*)B[t];
    _Pragma("omp for schedule(static) nowait")
    for (int64_t i = 0; i < len; ++i) {
      T d = maximize ? -g[i] : g[i];
      if (wd != T(0)) d = std::fma(p[i], wd, d);
      const T sq = s[i] * alpha + (alpha1 * d) * d;
      s[i] = sq;
      T avg;
      if (centered) {
        const T m = lerp<T, small>(ga[i], d, alpha1);
        ga[i] = m;
        avg = std::sqrt(sq + (T(-1) * m) * m) + eps;
      } else {
        avg = std::sqrt(sq) + eps;
      }
      if (momentum) {
        const T buf = b[i] * mom + d / avg;
        b[i] = buf;
        p[i] = std::fma(buf, -lr, p[i]);
      } else {
        p[i] = p[i] + ((-lr) * d) / avg;
      }
    })
}

template <typename T>
static void rmsprop(int n, void** P, void** G, void** S_, void** GA, void** B, const int64_t* N, double lr,
                    double alpha, double eps, double wd, double mom, int centered, int maximize, int nt) {
#define RMSPROP(C, M, S) rmsprop_t<T, C, M, S>(n, P, G, S_, GA, B, N, lr, alpha, eps, wd, mom, maximize, nt)
  const bool small = T(1) - T(alpha) < T(0.5);
  if (centered && mom > 0) { if (small) RMSPROP(true, true, true); else RMSPROP(true, true, false); }
  else if (centered) { if (small) RMSPROP(true, false, true); else RMSPROP(true, false, false); }
  else if (mom > 0) RMSPROP(false, true, true);
  else RMSPROP(false, false, true);
#undef RMSPROP
}

WIDE_VECTORS_BEGIN
// coef per tensor: [step_size, sqrt(bias_correction2)]
template <typename T, bool amsgrad, bool small>
static void adam_t(int n, void** P, void** G, void** M, void** V, void** VM, const int64_t* N,
                   const double* coef, double lr_, double b1_, double b2_, double eps_, double wd_,
                   int decoupled, int maximize, int nt) {
  const T b1w = T(1) - T(b1_), b2 = b2_, b2w = T(1) - T(b2_), eps = eps_, wd = wd_;
  const T decay = T(1) - T(lr_ * wd_);
  TENSOR_LOOP(
    T* p = (T*)P[t]; const T* g = (const T*)G[t]; T* m = (T*)M[t]; T* v = (T*)V[t]; T* vm = (T*)VM[t];
    const T ss = -T(coef[2 * t]), bc2 = coef[2 * t + 1];
    _Pragma("omp for schedule(static) nowait")
    for (int64_t i = 0; i < len; ++i) {
      T d = maximize ? -g[i] : g[i];
      T w = p[i];
      if (wd != T(0)) {
        if (decoupled) w = w * decay; else d = std::fma(w, wd, d);
      }
      const T mi = lerp<T, small>(m[i], d, b1w);
      m[i] = mi;
      T vi = v[i] * b2 + (b2w * d) * d;
      v[i] = vi;
      if (amsgrad) { vi = std::max(vm[i], vi); vm[i] = vi; }
      p[i] = w + (ss * mi) / (std::sqrt(vi) / bc2 + eps);
    })
}

// coef per tensor from the step t, in double as in adam.py: [lr / (1 - beta1^t), sqrt(1 - beta2^t)]
template <typename T>
static void adam(int n, void** P, void** G, void** M, void** V, void** VM, const int64_t* N, const void* steps,
                 int kind, double lr, double b1, double b2, double eps, double wd, int amsgrad, int decoupled,
                 int maximize, int nt) {
  const std::vector<double> ts = next_steps(n, steps, kind);
  std::vector<double> coef(2 * n);
  for (int t = 0; t < n; ++t) {
    coef[2 * t] = lr / (1 - std::pow(b1, ts[t]));
    coef[2 * t + 1] = std::pow(1 - std::pow(b2, ts[t]), 0.5);  // Python's x ** 0.5 is pow, not sqrt
  }
#define ADAM(A, S) adam_t<T, A, S>(n, P, G, M, V, VM, N, coef.data(), lr, b1, b2, eps, wd, decoupled, maximize, nt)
  const bool small = T(1) - T(b1) < T(0.5);
  if (amsgrad) { if (small) ADAM(true, true); else ADAM(true, false); }
  else { if (small) ADAM(false, true); else ADAM(false, false); }
#undef ADAM
}

WIDE_VECTORS_END

// coef per tensor: [bias_correction1, rect, sqrt(bias_correction2), mode];
// mode 0 sgd-like, 1 rectified, 2 none
#define RADAM_LOOP(STEP)                                            \
  {                                                                 \
    _Pragma("omp for schedule(static) nowait")                      \
    for (int64_t i = 0; i < len; ++i) {                             \
      T d = maximize ? -g[i] : g[i];                                \
      T w = p[i];                                                   \
      if (wd != T(0)) {                                             \
        if (decoupled) w = w * decay; else d = std::fma(w, wd, d);  \
      }                                                             \
      const T mi = lerp<T, small>(m[i], d, b1w);                    \
      m[i] = mi;                                                    \
      const T vi = v[i] * b2 + (b2w * d) * d;                       \
      v[i] = vi;                                                    \
      const T u = mi / bc1 * lr;                                    \
      (void)u;                                                      \
      p[i] = w - (STEP);                                            \
    }                                                               \
  }

template <typename T, bool small>
static void radam_t(int n, void** P, void** G, void** M, void** V, const int64_t* N, const double* coef,
                    double lr_, double b1_, double b2_, double eps_, double wd_, int decoupled, int maximize,
                    int nt) {
  const T lr = lr_, b1w = T(1) - T(b1_), b2 = b2_, b2w = T(1) - T(b2_), eps = eps_, wd = wd_;
  const T decay = T(1) - T(lr_ * wd_);
  TENSOR_LOOP(
    T* p = (T*)P[t]; const T* g = (const T*)G[t]; T* m = (T*)M[t]; T* v = (T*)V[t];
    const T bc1 = coef[4 * t], rect = coef[4 * t + 1], bc2 = coef[4 * t + 2];
    const int mode = (int)coef[4 * t + 3];
    // one loop per mode (1 rectified step, 0 momentum-SGD step, 2 no step): a select would not vectorize
    if (mode == 1) RADAM_LOOP(u * (bc2 / (std::sqrt(vi) + eps)) * rect)
    else if (mode == 0) RADAM_LOOP(u)
    else RADAM_LOOP(T(0))
  )
}
#undef RADAM_LOOP

template <typename T>
static void radam(int n, void** P, void** G, void** M, void** V, const int64_t* N, const double* coef,
                  double lr, double b1, double b2, double eps, double wd, int decoupled, int maximize,
                  int nt) {
#define RADAM(S) radam_t<T, S>(n, P, G, M, V, N, coef, lr, b1, b2, eps, wd, decoupled, maximize, nt)
  if (T(1) - T(b1) < T(0.5)) RADAM(true);
  else RADAM(false);
#undef RADAM
}

// AdamP and SGDP (adamp.py). Whether a weight is projected depends on sums over each of its output rows,
// so a tensor with dim > 1 (rows[t] > 0) takes two passes over memory:
//   pass A moves the optimizer state and sums per row, in double, g.p, g.g, p.p and p.u, where u is the
//          update direction from the new state;
//   project_rows() then decides channel-wise, layer-wise or no projection as `project()` does;
//   pass B projects u (u -= p_hat (p_hat . u)), decays and steps p.
// Tensors are done one after the other, pass B right after pass A and over the rows in reverse order, so
// that it starts on the data pass A touched last: for tensors smaller than the caches it reads no memory.
// A tensor with rows[t] == 0 (dim <= 1, never projected) is updated in one pass.
// A rule is the optimizer's part: update(i) moves the state of element i and returns u; save(i, u) and
// direction(i) carry u from pass A to pass B; keep(i, u) stores the projected u where the reference does.

// AdamP's u costs a square root and two divisions: pass A saves it in a scratch buffer of the calling thread
// (reused, grown to the largest weight) rather than pass B computing it again, which made pass B compute-bound.
template <typename T>
static T* scratch(int64_t len) {
  thread_local std::vector<T> buffer;
  if ((int64_t)buffer.size() < len) buffer.resize(len);
  return buffer.data();
}

template <typename T, bool nesterov>
struct AdamPRule {
  const T* g; T* m; T* v; T* U;
  T b1, b1w, b2, b2w, bc2, eps;  // b1w = 1 - beta1, b2w = 1 - beta2, bc2 = sqrt(1 - beta2^t)
  T update(int64_t i) const {
    const T gi = g[i];
    const T mi = std::fma(gi, b1w, m[i] * b1);  // m = beta1 m + (1 - beta1) g
    const T vi = v[i] * b2 + (b2w * gi) * gi;    // v = beta2 v + (1 - beta2) g^2
    m[i] = mi;
    v[i] = vi;
    const T denom = std::sqrt(vi) / bc2 + eps;
    return nesterov ? (b1 * mi + b1w * gi) / denom : mi / denom;
  }
  void save(int64_t i, T u) const { U[i] = u; }
  T direction(int64_t i) const { return U[i]; }
  void keep(int64_t, T) const {}
};

template <typename T, bool nesterov>
struct SGDPRule {
  const T* g; T* b;
  T mu, damp1;  // damp1 = 1 - dampening
  T update(int64_t i) const {
    const T gi = g[i];
    const T bi = std::fma(gi, damp1, b[i] * mu);  // b = mu b + (1 - tau) g
    b[i] = bi;
    return nesterov ? gi + mu * bi : bi;
  }
  void save(int64_t, T) const {}
  T direction(int64_t i) const { return nesterov ? g[i] + mu * b[i] : b[i]; }  // cheap: computed again
  void keep(int64_t i, T u) const {
    if (!nesterov) b[i] = u;  // without nesterov u is the buffer, which the reference projects in place
  }
};

// Pass A over rows [lo, hi) of a tensor with dim > 1: S gets [g.p, g.g, p.p, p.u] per row.
template <typename T, typename Rule>
static inline void rows_pass_a(const Rule r, const T* p, const T* g, int64_t lo, int64_t hi, int64_t cols,
                               double* S) {
  for (int64_t row = lo; row < hi; ++row) {
    double gp = 0, gg = 0, pp = 0, pu = 0;
    const int64_t first = row * cols, last = first + cols;
    _Pragma("omp simd reduction(+ : gp, gg, pp, pu)")
    for (int64_t i = first; i < last; ++i) {
      const T u = r.update(i);
      r.save(i, u);
      const double w = p[i], gi = g[i];
      gp = std::fma(gi, w, gp);
      gg = std::fma(gi, gi, gg);
      pp = std::fma(w, w, pp);
      pu = std::fma(w, double(u), pu);
    }
    double* s = S + 4 * row;
    s[0] = gp; s[1] = gg; s[2] = pp; s[3] = pu;
  }
}

// Pass B over rows [lo, hi), last row first. Where `project`, row r has c = (p_hat . u) / (||p|| + eps) in
// S[4 r + 1]: the reference's u - (p / (||p|| + eps)) (p_hat . u) is computed as u - p c, which rounds
// differently by an ulp of the radial part (as the order of the sums does anyway) and saves a division.
template <typename T, typename Rule, bool project>
static inline void rows_pass_b(const Rule r, T* p, int64_t lo, int64_t hi, int64_t cols, const double* S, T nss,
                               T decay) {
  for (int64_t row = hi - 1; row >= lo; --row) {
    const T c = project ? T(S[4 * row + 1]) : T(0);
    const int64_t first = row * cols, last = first + cols;
    for (int64_t i = first; i < last; ++i) {
      const T w = p[i];
      T u = r.direction(i);
      if (project) {
        u = u - w * c;  // u -= p_hat (p_hat . u)
        r.keep(i, u);
      }
      p[i] = std::fma(u, nss, w * decay);  // w = decay w - step_size u
    }
  }
}

// The whole update of a tensor that is never projected.
template <typename T, typename Rule>
static inline void flat_pass(const Rule r, T* p, int64_t len, T nss, T decay) {
  _Pragma("omp for schedule(static) nowait")
  for (int64_t i = 0; i < len; ++i) {
    const T u = r.update(i);
    p[i] = std::fma(u, nss, p[i] * decay);
  }
}

// `project()`'s test on the row sums S = [g.p, g.g, p.p, p.u] of one tensor: channel-wise when every row's
// |cos(g, p)| is below delta / sqrt(row length), else layer-wise when the whole tensor's is below
// delta / sqrt(numel). Norms are clamped below by eps, as in torch's cosine_similarity. When a test passes,
// each row's S[1] becomes (p_hat . u) / (||p|| + eps) of its row (channel-wise) or of the tensor.
static bool project_rows(double* S, int64_t rows, int64_t numel, double delta, double eps) {
  const auto cosine = [eps](double gp, double gg, double pp) {
    return std::fabs(gp) / (std::max(std::sqrt(gg), eps) * std::max(std::sqrt(pp), eps));
  };
  const double channel_bound = delta / std::sqrt(double(numel / rows));
  bool channel = true;
  double gp = 0, gg = 0, pp = 0, pu = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const double* s = S + 4 * r;
    channel = channel && cosine(s[0], s[1], s[2]) < channel_bound;  // false on NaN, like torch's max()
    gp += s[0]; gg += s[1]; pp += s[2]; pu += s[3];
  }
  if (channel) {
    for (int64_t r = 0; r < rows; ++r) {
      double* s = S + 4 * r;
      const double norm = std::sqrt(s[2]) + eps;
      s[1] = s[3] / norm / norm;
    }
    return true;
  }
  if (!(cosine(gp, gg, pp) < delta / std::sqrt(double(numel)))) return false;
  const double norm = std::sqrt(pp) + eps, c = pu / norm / norm;
  for (int64_t r = 0; r < rows; ++r) S[4 * r + 1] = c;
  return true;
}

// decay1, decayr: weight decay factors without and with projection (wd_ratio); step[t]: step size of tensor t
template <typename T, typename Rule>
static void projected(int n, void** P, void** G, const int64_t* N, const int32_t* R, const std::vector<Rule>& rules,
                      const double* step, double decay1, double decayr, double delta, double eps, int nt) {
  int64_t most_rows = 0;
  for (int t = 0; t < n; ++t) most_rows = std::max<int64_t>(most_rows, R[t]);
  std::vector<double> sums(4 * most_rows);  // of the tensor in hand
  double* S = sums.data();
  bool project = false;
  _Pragma("omp parallel num_threads(nt)")
  {
    const int64_t nth = omp_get_num_threads(), id = omp_get_thread_num();
    for (int t = 0; t < n; ++t) {
      T* p = (T*)P[t];
      const T nss = -T(step[t]);
      if (R[t] == 0) {
        flat_pass<T>(rules[t], p, N[t], nss, T(decay1));
        continue;
      }
      // each thread takes the same block of rows in both passes, so pass B finds them in its own cache
      const int64_t rows = R[t], cols = N[t] / rows, lo = rows * id / nth, hi = rows * (id + 1) / nth;
      rows_pass_a<T>(rules[t], p, (const T*)G[t], lo, hi, cols, S);
      _Pragma("omp barrier")
      _Pragma("omp single")
      project = project_rows(S, rows, N[t], delta, eps);
      if (project) rows_pass_b<T, Rule, true>(rules[t], p, lo, hi, cols, S, nss, T(decayr));
      else rows_pass_b<T, Rule, false>(rules[t], p, lo, hi, cols, S, nss, T(decay1));
      _Pragma("omp barrier")  // the next tensor reuses the sums and the scratch buffer
    }
  }
}

// coef per tensor: [step size lr / (1 - beta1^t), sqrt(1 - beta2^t)]
template <typename T>
static void adamp(int n, void** P, void** G, void** M, void** V, const int64_t* N, const int32_t* R,
                  const double* coef, double b1, double b2, double eps, double decay1, double decayr, double delta,
                  int nesterov, int nt) {
  with_flag(nesterov, [&](auto NS) {
    int64_t largest = 0;
    for (int t = 0; t < n; ++t) largest = std::max(largest, R[t] > 0 ? N[t] : 0);
    T* U = scratch<T>(largest);
    std::vector<AdamPRule<T, NS>> rules(n);
    std::vector<double> step(n);
    for (int t = 0; t < n; ++t) {
      rules[t] = {(const T*)G[t], (T*)M[t], (T*)V[t], U, T(b1), T(1 - b1), T(b2), T(1 - b2),
                  T(coef[2 * t + 1]), T(eps)};
      step[t] = coef[2 * t];
    }
    projected<T>(n, P, G, N, R, rules, step.data(), decay1, decayr, delta, eps, nt);
  });
}

template <typename T>
static void sgdp(int n, void** P, void** G, void** B, const int64_t* N, const int32_t* R, double lr, double mu,
                 double damp, double decay1, double decayr, double delta, double eps, int nesterov, int nt) {
  with_flag(nesterov, [&](auto NS) {
    std::vector<SGDPRule<T, NS>> rules(n);
    for (int t = 0; t < n; ++t) rules[t] = {(const T*)G[t], (T*)B[t], T(mu), T(1 - damp)};
    const std::vector<double> step(n, lr);
    projected<T>(n, P, G, N, R, rules, step.data(), decay1, decayr, delta, eps, nt);
  });
}

#define EXPORT2(NAME, SIG, ARGS)                                   \
  extern "C" void NAME##_f32 SIG { NAME<float> ARGS; }             \
  extern "C" void NAME##_f64 SIG { NAME<double> ARGS; }

EXPORT2(sgd, (int n, void** P, void** G, void** B, const int64_t* N, const int32_t* f, double lr, double wd,
              double mom, double damp, int mx, int nes, int nt),
        (n, P, G, B, N, f, lr, wd, mom, damp, mx, nes, nt))
EXPORT2(adagrad, (int n, void** P, void** G, void** S, const int64_t* N, const void* st, int kind, double lr,
                  double lrd, double wd, double eps, int mx, int nt),
        (n, P, G, S, N, st, kind, lr, lrd, wd, eps, mx, nt))
EXPORT2(adadelta, (int n, void** P, void** G, void** S, void** A, const int64_t* N, double lr, double rho,
                   double eps, double wd, int mx, int nt), (n, P, G, S, A, N, lr, rho, eps, wd, mx, nt))
EXPORT2(rmsprop, (int n, void** P, void** G, void** S, void** GA, void** B, const int64_t* N, double lr,
                  double alpha, double eps, double wd, double mom, int c, int mx, int nt),
        (n, P, G, S, GA, B, N, lr, alpha, eps, wd, mom, c, mx, nt))
EXPORT2(adam, (int n, void** P, void** G, void** M, void** V, void** VM, const int64_t* N, const void* st,
               int kind, double lr, double b1, double b2, double eps, double wd, int ams, int dec, int mx, int nt),
        (n, P, G, M, V, VM, N, st, kind, lr, b1, b2, eps, wd, ams, dec, mx, nt))
EXPORT2(radam, (int n, void** P, void** G, void** M, void** V, const int64_t* N, const double* coef,
                double lr, double b1, double b2, double eps, double wd, int dec, int mx, int nt),
        (n, P, G, M, V, N, coef, lr, b1, b2, eps, wd, dec, mx, nt))
EXPORT2(adamp, (int n, void** P, void** G, void** M, void** V, const int64_t* N, const int32_t* R,
                const double* coef, double b1, double b2, double eps, double d1, double dr, double delta, int nes,
                int nt), (n, P, G, M, V, N, R, coef, b1, b2, eps, d1, dr, delta, nes, nt))
EXPORT2(sgdp, (int n, void** P, void** G, void** B, const int64_t* N, const int32_t* R, double lr, double mu,
               double damp, double d1, double dr, double delta, double eps, int nes, int nt),
        (n, P, G, B, N, R, lr, mu, damp, d1, dr, delta, eps, nes, nt))
"""
