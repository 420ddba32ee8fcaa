"""C++ source of the fused AdamP and SGDP kernels: two passes over each weight they may project.

Appended to `_kernels.SOURCE`, after the element-wise kernels, whose helpers (`lerp`, `with_flag`,
`next_steps`, `EXPORT2`, ...) it uses.
"""

PROJECTED_SOURCE = r"""
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

EXPORT2(adamp, (int n, void** P, void** G, void** M, void** V, const int64_t* N, const int32_t* R,
                const double* coef, double b1, double b2, double eps, double d1, double dr, double delta, int nes,
                int nt), (n, P, G, M, V, N, R, coef, b1, b2, eps, d1, dr, delta, nes, nt))
EXPORT2(sgdp, (int n, void** P, void** G, void** B, const int64_t* N, const int32_t* R, double lr, double mu,
               double damp, double d1, double dr, double delta, double eps, int nes, int nt),
        (n, P, G, B, N, R, lr, mu, damp, d1, dr, delta, eps, nes, nt))
"""
