// Gemm: the matrix products of the MLP reference loops — OpenBLAS's sgemm, or plain C++ loops.
#include "Gemm.h"

#include <algorithm>

#ifdef NNJIT_BENCH_OPENBLAS
#include <cblas.h>
#endif

namespace nnjit::bench {

void plainGemm(Layout layout, int M, int N, int K, const float *__restrict A, const float *__restrict B,
               float *__restrict C) {
  switch (layout) {
  case Layout::NN:
  case Layout::TN: // a row of C stays in L1 while the rows of B stream past
    for (int i = 0; i < M; ++i) {
      float *c = C + static_cast<long>(i) * N;
      std::fill(c, c + N, 0.f);
      for (int k = 0; k < K; ++k) {
        float a = layout == Layout::NN ? A[static_cast<long>(i) * K + k] : A[static_cast<long>(k) * M + i];
        const float *b = B + static_cast<long>(k) * N;
        for (int j = 0; j < N; ++j)
          c[j] += a * b[j];
      }
    }
    return;
  case Layout::NT: // dot products of rows of A and rows of B
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) {
        const float *a = A + static_cast<long>(i) * K;
        const float *b = B + static_cast<long>(j) * K;
        float s = 0;
#pragma omp simd reduction(+ : s)
        for (int k = 0; k < K; ++k)
          s += a[k] * b[k];
        C[static_cast<long>(i) * N + j] = s;
      }
    return;
  }
}

#ifdef NNJIT_BENCH_OPENBLAS
void blasGemm(Layout layout, int M, int N, int K, const float *A, const float *B, float *C) {
  CBLAS_TRANSPOSE ta = layout == Layout::TN ? CblasTrans : CblasNoTrans;
  CBLAS_TRANSPOSE tb = layout == Layout::NT ? CblasTrans : CblasNoTrans;
  int lda = layout == Layout::TN ? M : K;
  int ldb = layout == Layout::NT ? K : N;
  cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, 1.f, A, lda, B, ldb, 0.f, C, N);
}

std::string openblasDescription() {
  return std::string("core ") + openblas_get_corename() + ", " + openblas_get_config();
}
#endif

} // namespace nnjit::bench
