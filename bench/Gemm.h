// Gemm: the matrix products of the MLP reference loops — OpenBLAS's sgemm, or plain C++ loops.
#pragma once

#include <string>

namespace nnjit::bench {

/// Which layout of C = op(A) @ op(B) a call needs (row-major, C is M x N, the inner dim K):
/// NN: A is M x K, B is K x N (forward); TN: A is K x M (dW = X^T dZ);
/// NT: B is N x K (dX = dZ W^T).
enum class Layout { NN, TN, NT };

/// C = op(A) @ op(B), overwriting C.
using GemmFn = void (*)(Layout layout, int M, int N, int K, const float *A, const float *B, float *C);

/// Loops an engineer would write without a library: i-k-j order so the
/// inner loop runs along rows and vectorizes, no blocking, no packing.
void plainGemm(Layout layout, int M, int N, int K, const float *A, const float *B, float *C);

#ifdef NNJIT_BENCH_OPENBLAS
/// cblas_sgemm.
void blasGemm(Layout layout, int M, int N, int K, const float *A, const float *B, float *C);

/// OpenBLAS's core and build, e.g. "Zen" and "OpenBLAS 0.3.21 DYNAMIC_ARCH ...".
std::string openblasDescription();
#endif

} // namespace nnjit::bench
