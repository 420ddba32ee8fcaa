"""Compiled CPU kernel of greedy NMS (plain and class-aware), called through ctypes.

Built once per source, compiler, flags and CPU by `dlbasic._native_build` (as the RoI pooling and optimizer
kernels) into `$DLBASIC_CACHE`. The boxes come in score order; the kernel walks them once: a box that no kept box
has suppressed is kept, and then marks every later box of its class whose IoU with it exceeds the threshold
(the loop over later boxes has no branches, so the compiler vectorizes it; torchvision's CPU kernel is the same
walk, one box at a time). IoU is computed with the operations of `boxes.pairwise_inter_union`, in the boxes'
dtype, without fused multiply-adds (`-ffp-contract=off`) and with correctly rounded division:

    w = max(min(x2_i, x2_j) - max(x1_i, x1_j), 0)   (a NaN w stays NaN, as torch's clamp)
    h = likewise in y;  inter = w * h;  area = (x2 - x1) * (y2 - y1)
    suppressed when inter / (area_i + area_j - inter) > thr, thr rounded to the dtype (torch's comparison)

so every decision equals the torch version's in `nms.py` bit for bit. A box with a NaN coordinate has a NaN
area, hence NaN IoUs: it neither suppresses nor is suppressed, as in the torch version. Without a compiler, with
`DLBASIC_NO_NATIVE=1`, or for other dtypes and devices, `nms.py` runs its torch version.
"""

from __future__ import annotations

import ctypes

import torch
from torch import Tensor

from dlbasic import _native_build
from dlbasic._native_build import FLAGS

SOURCE = r"""
#include <cstdint>
#include <exception>
#include <vector>

// keep[k] = 1 for the kept boxes of b (Tensor[n, 4] xyxy in visiting order), 0 for the others; cls: the class of
// each box (class-aware NMS) or null. Returns 0, or 2 where the work arrays could not be allocated.
template <typename T>
static int greedy(const T* b, const int64_t* cls, int64_t n, double thr_d, uint8_t* keep) {
  const T thr = (T)thr_d;
  std::vector<T> x1(n), y1(n), x2(n), y2(n), area(n);
  std::vector<uint8_t> dead(n, 0);
  for (int64_t k = 0; k < n; ++k) {
    x1[k] = b[4 * k];
    y1[k] = b[4 * k + 1];
    x2[k] = b[4 * k + 2];
    y2[k] = b[4 * k + 3];
    area[k] = (x2[k] - x1[k]) * (y2[k] - y1[k]);
  }
  const T* X1 = x1.data();
  const T* Y1 = y1.data();
  const T* X2 = x2.data();
  const T* Y2 = y2.data();
  const T* A = area.data();
  uint8_t* D = dead.data();
  for (int64_t i = 0; i < n; ++i) {
    keep[i] = !D[i];
    if (D[i]) continue;
    const T ix1 = X1[i], iy1 = Y1[i], ix2 = X2[i], iy2 = Y2[i], ia = A[i];
    if (cls == nullptr) {
      for (int64_t j = i + 1; j < n; ++j) {
        const T xx2 = X2[j] < ix2 ? X2[j] : ix2, xx1 = X1[j] > ix1 ? X1[j] : ix1;
        const T yy2 = Y2[j] < iy2 ? Y2[j] : iy2, yy1 = Y1[j] > iy1 ? Y1[j] : iy1;
        T w = xx2 - xx1, h = yy2 - yy1;
        w = w < T(0) ? T(0) : w;
        h = h < T(0) ? T(0) : h;
        const T inter = w * h;
        D[j] |= (uint8_t)(inter / (ia + A[j] - inter) > thr);
      }
    } else {
      const int64_t c = cls[i];
      for (int64_t j = i + 1; j < n; ++j) {
        const T xx2 = X2[j] < ix2 ? X2[j] : ix2, xx1 = X1[j] > ix1 ? X1[j] : ix1;
        const T yy2 = Y2[j] < iy2 ? Y2[j] : iy2, yy1 = Y1[j] > iy1 ? Y1[j] : iy1;
        T w = xx2 - xx1, h = yy2 - yy1;
        w = w < T(0) ? T(0) : w;
        h = h < T(0) ? T(0) : h;
        const T inter = w * h;
        D[j] |= (uint8_t)((inter / (ia + A[j] - inter) > thr) & (cls[j] == c));
      }
    }
  }
  return 0;
}

#define NMS_EXPORT(T, S)                                                                                   \
  extern "C" int nms_greedy_##S(const T* b, const int64_t* cls, int64_t n, double thr, uint8_t* keep) {    \
    try {                                                                                                  \
      return greedy(b, cls, n, thr, keep);                                                                 \
    } catch (const std::exception&) {                                                                      \
      return 2;                                                                                            \
    }                                                                                                      \
  }

NMS_EXPORT(float, f32)
NMS_EXPORT(double, f64)
"""

DTYPES = (torch.float32, torch.float64)
_lib: ctypes.CDLL | None = None
_tried = False
_functions: dict[torch.dtype, ctypes._CFuncPtr] = {}


def library_path(compiler: str):
    """Where the compiled NMS kernel for this source, compiler, flags and CPU is cached."""
    return _native_build.library_path("nms_kernel", SOURCE, compiler, FLAGS)


def load() -> ctypes.CDLL | None:
    """The kernel library, building it on first use (said on stderr); None where it cannot be built. Tried once
    per process."""
    global _lib, _tried
    if _tried:
        return _lib
    _tried = True
    if _native_build.disabled():
        return None
    compiler = _native_build.compiler()
    if compiler is None:
        _native_build.say(
            "no C++ compiler found (CXX, c++, g++, clang++): nms runs its torch version "
            "(DLBASIC_NO_NATIVE=1 picks it without this message)"
        )
        return None
    fallback = "nms runs its torch version instead"
    lib = _native_build.load_library(
        library_path(compiler), SOURCE, compiler, FLAGS, "the NMS kernel", fallback, "about 2 s"
    )
    if lib is not None:
        for suffix, dtype in (("f32", torch.float32), ("f64", torch.float64)):
            fn = getattr(lib, f"nms_greedy_{suffix}")
            fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_double, ctypes.c_void_p]
            fn.restype = ctypes.c_int
            _functions[dtype] = fn
    _lib = lib
    return _lib


def available() -> bool:
    return load() is not None


def keep_mask(b: Tensor, cls: Tensor | None, thr: float) -> Tensor | None:
    """Kept mask (bool Tensor[n]) of boxes `b` (CPU Tensor[n, 4] in visiting order, float32 or float64) and
    optional int64 classes `cls`; None where the kernel does not apply or declined (the caller runs the torch
    version)."""
    if b.dtype not in DTYPES or b.device.type != "cpu" or not available():
        return None
    if cls is not None and (cls.is_floating_point() or cls.is_complex()):
        return None  # classes compare as int64 in the kernel
    b = b.contiguous()
    if cls is not None:
        cls = cls.to(torch.int64).contiguous()
    keep = torch.empty(len(b), dtype=torch.uint8)
    status = _functions[b.dtype](b.data_ptr(), None if cls is None else cls.data_ptr(), len(b), thr, keep.data_ptr())
    if status != 0:
        return None
    return keep.view(torch.bool)
