// A program that runs kernels compiled ahead of time: the functions of nn.h, generated at build
// time from kernels.tdsl by tdsl_add_kernels. It links tdsl's small kernel runtime, not LLVM and
// not the compiler.
#include "Inputs.h"
#include "nn.h"

#include <cstdio>

int main() {
  using namespace aot_example;
  std::vector<float> x = softmaxInput(), y(x.size());
  const int64_t xShape[] = {kRows, kCols};
  if (nn_softmax(x.data(), xShape, y.data(), xShape, kRows, kCols, nullptr) != TDSL_OK) {
    std::fprintf(stderr, "softmax: %s\n", tdsl_last_error());
    return 1;
  }
  std::printf("softmax:\n");
  for (int64_t i = 0; i < kRows; ++i)
    for (int64_t j = 0; j < kCols; ++j)
      std::printf("%.9g%s", y[i * kCols + j], j + 1 == kCols ? "\n" : " ");

  std::vector<float> a = matmulA(), b = matmulB(), c(kM * kN);
  const int64_t aShape[] = {kM, kK}, bShape[] = {kK, kN}, cShape[] = {kM, kN};
  tdsl_call_options oneThread = {};
  oneThread.threads = 1;
  if (nn_matmul(a.data(), aShape, b.data(), bShape, c.data(), cShape, kM, kK, kN, &oneThread) !=
      TDSL_OK) {
    std::fprintf(stderr, "matmul: %s\n", tdsl_last_error());
    return 1;
  }
  std::printf("matmul:\n");
  for (int64_t i = 0; i < kM; ++i)
    for (int64_t j = 0; j < kN; ++j)
      std::printf("%.9g%s", c[i * kN + j], j + 1 == kN ? "\n" : " ");

  // The same product with `a` stored transposed (a K x M array, column-major for a): its
  // strides in elements say where a[i, k] is, and the result is the same to the bit.
  std::vector<float> aTransposed(a.size()), cFromTransposed(c.size());
  for (int64_t i = 0; i < kM; ++i)
    for (int64_t k = 0; k < kK; ++k)
      aTransposed[k * kM + i] = a[i * kK + k];
  const int64_t aStrides[] = {1, kM};
  if (nn_matmul_strided(aTransposed.data(), aShape, aStrides, b.data(), bShape, nullptr,
                        cFromTransposed.data(), cShape, nullptr, kM, kK, kN,
                        &oneThread) != TDSL_OK) {
    std::fprintf(stderr, "matmul of a transposed: %s\n", tdsl_last_error());
    return 1;
  }
  bool same = cFromTransposed == c;
  std::printf("matmul of a stored transposed, through strides: %s\n",
              same ? "the same product" : "a different product");

  // A shape that disagrees with the symbols: an error status and its message, nothing computed.
  const int64_t wrong[] = {kRows, kCols + 1};
  int status = nn_softmax(x.data(), xShape, y.data(), wrong, kRows, kCols, nullptr);
  std::printf("mismatched shape: status %d: %s\n", status, tdsl_last_error());
  return status == TDSL_SHAPE_MISMATCH && same ? 0 : 1;
}
