"""C++ source of the fused CPU update kernels (one pass over memory per optimizer step).

Each kernel walks a list of tensors; inside a tensor the elements are split over OpenMP threads.
Per-tensor coefficients that depend on the step count (bias corrections, decayed learning rates)
are computed in Python and passed as arrays. The element formulas follow the single-tensor loops
of the optimizer files, in the same order of operations, so float64 results agree to rounding.
No torch headers are used: the library compiles in about a second with a plain C++ compiler.
"""

SOURCE = r"""
#include <algorithm>
#include <cmath>
#include <cstdint>

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

// flags: 1 maximize, 2 nesterov, 4 first step (buffer = grad)
template <typename T>
static void sgd(int n, void** P, void** G, void** B, const int64_t* N, const int32_t* first, double lr_,
                double wd_, double mom_, double damp_, int maximize, int nesterov, int nt) {
  const T lr = lr_, wd = wd_, mom = mom_, damp1 = T(1) - T(damp_);
  TENSOR_LOOP(
    T* p = (T*)P[t]; const T* g = (const T*)G[t]; T* b = (T*)B[t]; const int f = first[t];
    _Pragma("omp for schedule(static) nowait")
    for (int64_t i = 0; i < len; ++i) {
      T d = maximize ? -g[i] : g[i];
      if (wd != T(0)) d = std::fma(p[i], wd, d);
      if (mom != T(0)) {
        const T buf = f ? d : std::fma(d, damp1, b[i] * mom);
        b[i] = buf;
        d = nesterov ? std::fma(buf, mom, d) : buf;
      }
      p[i] = std::fma(d, -lr, p[i]);
    })
}

template <typename T>
static void adagrad(int n, void** P, void** G, void** S, const int64_t* N, const double* clr, double wd_,
                    double eps_, int maximize, int nt) {
  const T wd = wd_, eps = eps_;
  TENSOR_LOOP(
    T* p = (T*)P[t]; const T* g = (const T*)G[t]; T* s = (T*)S[t]; const T c = -T(clr[t]);
    _Pragma("omp for schedule(static) nowait")
    for (int64_t i = 0; i < len; ++i) {
      T d = maximize ? -g[i] : g[i];
      if (wd != T(0)) d = std::fma(p[i], wd, d);
      const T sum = s[i] + d * d;
      s[i] = sum;
      p[i] = p[i] + (c * d) / (std::sqrt(sum) + eps);
    })
}

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

template <typename T>
static void adam(int n, void** P, void** G, void** M, void** V, void** VM, const int64_t* N,
                 const double* coef, double lr, double b1, double b2, double eps, double wd, int amsgrad,
                 int decoupled, int maximize, int nt) {
#define ADAM(A, S) adam_t<T, A, S>(n, P, G, M, V, VM, N, coef, lr, b1, b2, eps, wd, decoupled, maximize, nt)
  const bool small = T(1) - T(b1) < T(0.5);
  if (amsgrad) { if (small) ADAM(true, true); else ADAM(true, false); }
  else { if (small) ADAM(false, true); else ADAM(false, false); }
#undef ADAM
}

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
EXPORT2(adagrad, (int n, void** P, void** G, void** S, const int64_t* N, const double* clr, double wd,
                  double eps, int mx, int nt), (n, P, G, S, N, clr, wd, eps, mx, nt))
EXPORT2(adadelta, (int n, void** P, void** G, void** S, void** A, const int64_t* N, double lr, double rho,
                   double eps, double wd, int mx, int nt), (n, P, G, S, A, N, lr, rho, eps, wd, mx, nt))
EXPORT2(rmsprop, (int n, void** P, void** G, void** S, void** GA, void** B, const int64_t* N, double lr,
                  double alpha, double eps, double wd, double mom, int c, int mx, int nt),
        (n, P, G, S, GA, B, N, lr, alpha, eps, wd, mom, c, mx, nt))
EXPORT2(adam, (int n, void** P, void** G, void** M, void** V, void** VM, const int64_t* N, const double* coef,
               double lr, double b1, double b2, double eps, double wd, int ams, int dec, int mx, int nt),
        (n, P, G, M, V, VM, N, coef, lr, b1, b2, eps, wd, ams, dec, mx, nt))
EXPORT2(radam, (int n, void** P, void** G, void** M, void** V, const int64_t* N, const double* coef,
                double lr, double b1, double b2, double eps, double wd, int dec, int mx, int nt),
        (n, P, G, M, V, N, coef, lr, b1, b2, eps, wd, dec, mx, nt))
"""
