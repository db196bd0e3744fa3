// Embedding tdsl: compile a kernel from a string, run it on a view over the program's own
// memory, and check it against the reference interpreter.
#include <tdsl/tdsl.h>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
  const char *source = R"(
kernel softmax(x: f32[N, D]) -> y: f32[N, D] {
    e[i, j] = exp(x[i, j] - max(x[i, k] for k))
    y[i, j] = e[i, j] / sum(e[i, k] for k)
}
)";
  try {
    tdsl::Jit jit;
    tdsl::Kernel softmax = jit.compile(source, "softmax.tdsl").kernel("softmax");

    const int rows = 3, cols = 5;
    std::vector<float> x(rows * cols), y(rows * cols);
    for (int i = 0; i < rows * cols; ++i)
      x[i] = std::sin(0.7f * i);
    softmax.run({tdsl::Tensor::view(x.data(), {rows, cols}, tdsl::DType::F32)},
                {tdsl::Tensor::view(y.data(), {rows, cols}, tdsl::DType::F32)});

    tdsl::Tensor reference =
        softmax.interpret({tdsl::Tensor::view(x.data(), {rows, cols}, tdsl::DType::F32)})[0];
    double worst = 0;
    for (int i = 0; i < rows; ++i) {
      float rowSum = 0;
      for (int j = 0; j < cols; ++j) {
        rowSum += y[i * cols + j];
        worst = std::max(worst, std::fabs(y[i * cols + j] - reference.at(i * cols + j)));
      }
      std::printf("row %d sums to %.6f\n", i, rowSum);
    }
    std::printf("largest difference from the interpreter: %.3g\n", worst);
    return worst < 1e-6 ? 0 : 1;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
