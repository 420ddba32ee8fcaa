"""C++ source of the fused CPU update kernels (one pass over memory per optimizer step).

Each kernel walks a list of tensors; inside a tensor the elements are split over OpenMP threads.
Per-tensor coefficients that depend on the step count (bias corrections, decayed learning rates)
are computed in Python and passed as arrays. The element formulas follow the single-tensor loops
of the optimizer files, in the same order of operations, so float64 results agree to rounding.
Runtime flags (maximize, weight decay, momentum, ...) become template arguments, so each variant is
a branch-free loop that the compiler vectorizes.
AdamP and SGDP need two passes over a weight they may project: whether they do depends on sums over
the whole weight (see `_projected_kernels.py`); their sums are taken in double, in another
order than torch's, so they agree with the reference to rounding but not bit for bit.
No torch headers are used: the library compiles in a few seconds with a plain C++ compiler.
The AdamP/SGDP kernels are in `_projected_kernels.py`; `SOURCE` is both, compiled as one library.
"""

from dlbasic.optim._projected_kernels import PROJECTED_SOURCE

SOURCE = (
    r"""
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
"""
    + PROJECTED_SOURCE
)
