// The thread count in the API: JitOptions, Kernel::withThreads, and results that are bit-identical
// whatever the thread count, in parallel kernels, from concurrent callers too.
#include "runtime/ThreadPool.h"
#include "tdsl/tdsl.h"
#include "tests/unit/common/ApiTestSupport.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace tdsl;
using namespace tdsl::testing_support;

const char *kSoftmax = R"(
kernel softmax(x: f32[N, D]) -> y: f32[N, D] {
    m[i] = max(x[i, k] for k)
    e[i, j] = exp(x[i, j] - m[i])
    y[i, j] = e[i, j] / sum(e[i, k] for k)
}
)";

const char *kChain = R"(
kernel chain(x: f32[N], y: f32[N], z: f32[N]) -> w: f32[N] {
    w = x * y + z * x - y * z + 2.5 * x
}
)";

int hardware() { return runtime::ThreadPool::hardwareThreads(); }

TEST(Threads, JitDefaultsToEveryHardwareThread) {
  EXPECT_EQ(Jit().threads(), hardware());
  EXPECT_EQ(Jit(JitOptions{}).threads(), hardware());
  EXPECT_EQ(Jit(JitOptions{Target::cpu(), 1}).threads(), 1);
  EXPECT_EQ(Jit(JitOptions{Target::cpu(), 1000}).threads(), hardware()) << "capped";
  EXPECT_THROW(Jit(JitOptions{Target::cpu(), -1}), RuntimeError);
}

TEST(Threads, KernelsTakeTheirJitsCountAndWithThreadsChangesOnlyTheHandle) {
  Jit jit(JitOptions{Target::cpu(), 1});
  Kernel k = jit.compile(kChain).kernel("chain");
  EXPECT_EQ(k.threads(), 1);
  Kernel all = k.withThreads(0);
  EXPECT_EQ(all.threads(), hardware());
  EXPECT_EQ(k.withThreads(2).threads(), std::min(2, hardware()));
  EXPECT_EQ(k.threads(), 1);
  EXPECT_THROW(k.withThreads(-2), RuntimeError);
  EXPECT_EQ(all.name(), k.name());
}

/// Runs `kernel` with 1, 2, 3 and 7 threads (capped to the hardware) and from Jits compiled for
/// 1 and for every thread: all bit-identical.
void expectSameOnAnyThreadCount(const std::string &source, const std::string &name,
                                const std::vector<Tensor> &inputs) {
  Kernel serial = Jit(JitOptions{Target::cpu(), 1}).compile(source).kernel(name);
  Kernel parallel = Jit(JitOptions{Target::cpu(), 0}).compile(source).kernel(name);
  std::vector<Tensor> expected = serial(inputs);
  for (int threads : {1, 2, 3, 7}) {
    std::vector<Tensor> got = parallel.withThreads(threads)(inputs);
    ASSERT_EQ(got.size(), expected.size());
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_TRUE(sameBytes(got[i], expected[i]))
          << name << " output " << i << " with " << threads << " threads";
    got = serial.withThreads(threads)(inputs);
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_TRUE(sameBytes(got[i], expected[i]));
  }
}

TEST(Threads, SoftmaxIsBitIdenticalOnAnyThreadCount) {
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {7, 33}, {513, 257}, {1031, 999}})
    expectSameOnAnyThreadCount(kSoftmax, "softmax", {Tensor::randn({rows, cols}, DType::F32, 3)});
}

TEST(Threads, ElementwiseChainIsBitIdenticalOnAnyThreadCount) {
  for (int64_t n : {1, 1000, 300001})
    expectSameOnAnyThreadCount(kChain, "chain",
                               {Tensor::randn({n}, DType::F32, 1),
                                Tensor::randn({n}, DType::F32, 2),
                                Tensor::randn({n}, DType::F32, 3)});
}

TEST(Threads, BigKernelsUseThePoolAndMatchTheInterpreter) {
  Kernel k = Jit().compile(kSoftmax).kernel("softmax").withThreads(2);
  Tensor x = Tensor::randn({1024, 515}, DType::F32, 9);
  std::vector<Tensor> y = k({x});
  std::vector<Tensor> reference = k.interpret({x});
  double worst = 0;
  for (int64_t i = 0; i < x.numel(); ++i)
    worst = std::max(worst, std::abs(y[0].at(i) - reference[0].at(i)));
  EXPECT_LT(worst, 1e-6);
  bool parallel = k.dump(Stage::Loops).find(") parallel") != std::string::npos;
  if (parallel && hardware() > 1) {
    EXPECT_GE(runtime::ThreadPool::shared().startedWorkers(), 1);
  }
}

TEST(Threads, ConcurrentCallersGetCorrectResults) {
  Kernel k = Jit().compile(kSoftmax).kernel("softmax").withThreads(2);
  Tensor x = Tensor::randn({600, 300}, DType::F32, 4);
  std::vector<Tensor> expected = k({x});
  std::vector<int> ok(4, 0);
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c)
    callers.emplace_back([&, c] {
      bool good = true;
      for (int round = 0; round < 5; ++round)
        good &= sameBytes(k({x})[0], expected[0]);
      ok[c] = good;
    });
  for (std::thread &t : callers)
    t.join();
  EXPECT_EQ(ok, std::vector<int>(4, 1));
}

/// Every kernel of every program in tests/e2e and examples, at shapes big enough for the
/// schedule to make loops parallel (the e2e test's odd shapes are too small): the result with
/// several threads is byte for byte the one-thread Jit's (whose result the e2e test compares with
/// the interpreter at small shapes).
TEST(Threads, EveryProgramIsBitIdenticalInParallelAtLargeShapes) {
  namespace fs = std::filesystem;
  if (hardware() < 2)
    GTEST_SKIP() << "one hardware thread: nothing runs in parallel";
  std::vector<fs::path> files;
  for (const char *dir : {"/tests/e2e", "/examples"})
    for (const auto &entry : fs::directory_iterator(std::string(TDSL_SOURCE_DIR) + dir))
      if (entry.path().extension() == ".tdsl")
        files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  int parallelKernels = 0;
  for (const fs::path &file : files) {
    Module serial = Jit(JitOptions{Target::cpu(), 1}).compileFile(file.string());
    Module parallel = Jit(JitOptions{Target::cpu(), 2}).compileFile(file.string());
    for (const std::string &name : serial.kernelNames()) {
      Kernel one = serial.kernel(name), two = parallel.kernel(name);
      // Every symbol the same size, about 2^19 points in all.
      std::vector<std::vector<std::string>> dims = one.inputDims();
      std::set<std::string> symbols;
      for (const auto &d : dims)
        for (const std::string &dim : d)
          if (!std::isdigit(static_cast<unsigned char>(dim[0])))
            symbols.insert(dim);
      if (symbols.empty())
        continue;
      auto size =
          static_cast<int64_t>(std::ceil(std::pow(double(1 << 19), 1.0 / double(symbols.size()))));
      auto inputsOfSize = [&](int64_t n) {
        std::vector<Tensor> made;
        for (size_t i = 0; i < dims.size(); ++i) {
          std::vector<int64_t> shape;
          for (const std::string &dim : dims[i])
            shape.push_back(std::isdigit(static_cast<unsigned char>(dim[0])) ? std::stoll(dim) : n);
          made.push_back(Tensor::zeros(shape, one.inputDType(i)));
        }
        return made;
      };
      // Smaller while the outputs (an outer product, say) would hold more than 2^21 elements.
      bool valid = false;
      auto inputPoints = [&](int64_t n) {
        double points = 0; // A double: a rank-6 input of 2^19 per dim overflows int64.
        for (const auto &d : dims) {
          double p = 1;
          for (const std::string &dim : d)
            p *= std::isdigit(static_cast<unsigned char>(dim[0])) ? std::stod(dim) : double(n);
          points += p;
        }
        return points;
      };
      for (; size >= 1; size /= 2) {
        if (inputPoints(size) > double(1 << 22))
          continue; // Inputs of several dims per symbol: shrink before allocating them.
        try {
          int64_t points = 0;
          for (const std::vector<int64_t> &shape : one.outputShapes(inputsOfSize(size))) {
            int64_t n = 1;
            for (int64_t d : shape)
              n *= d;
            points += n;
          }
          if ((valid = points <= (1 << 21)))
            break;
        } catch (const RuntimeError &) {
          break; // No valid output shape with every symbol equal.
        }
      }
      if (!valid)
        continue;
      // Random data (seeds 17, 18, ...); an index tensor read by a gather holds valid indices.
      std::map<std::string, int64_t> sizes;
      for (const std::string &symbol : symbols)
        sizes[symbol] = size;
      std::vector<Tensor> inputs = one.randomInputs(sizes, 17);
      std::vector<Tensor> expected = one(inputs), got = two(inputs);
      for (size_t o = 0; o < got.size(); ++o)
        EXPECT_TRUE(sameBytes(got[o], expected[o]))
            << file.filename().string() << ": " << name << " output " << o << " with " << size
            << " per symbol";
      parallelKernels += two.dump(Stage::Loops).find(") parallel") != std::string::npos;
    }
  }
  RecordProperty("parallel_kernels", parallelKernels);
  EXPECT_GT(parallelKernels, 5) << "the schedule made (almost) no loop parallel";
}

} // namespace
