// Kernels compiled ahead of time for CUDA (tdsl aot --target cuda), called through their
// generated headers. On a GPU of compute capability 8.0 or 9.0, every kernel of the e2e suite,
// at several shapes (odd and empty ones included), gives bit for bit what the JIT's CUDA path
// gives for the same architecture on the same inputs, contiguous or through the _strided
// functions on device views. Without a driver, a call returns a status
// and a message saying why, and never throws.
#include "AotCudaLibraries.h"
#include "runtime/Cuda.h"
#include "tdsl/tdsl.h"
#include "tests/unit/aot/AotCall.h"
#include "tests/unit/common/SuitePrograms.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>

namespace {

using namespace tdsl;
using namespace tdsl::testing_support;
namespace cu = runtime::cuda;

struct AotLibrary {
  const char *program;
  std::vector<AotEntry> kernels;
};

const std::vector<AotLibrary> &e2eLibraries() {
  static const std::vector<AotLibrary> libraries = {TDSL_AOT_CUDA_E2E_TABLE};
  return libraries;
}

TEST(AotCuda, WithoutADriverACallReturnsWhy) {
  if (cu::status().available)
    GTEST_SKIP() << "a GPU is present";
  auto callOuter = [] {
    return aot_cuda_broadcasting_outer(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 3, 4,
                                       nullptr);
  };
  EXPECT_EQ(callOuter(), TDSL_CUDA_UNAVAILABLE);
  std::string message = tdsl_last_error();
  EXPECT_EQ(message.rfind("kernel outer cannot run on CUDA: ", 0), 0u) << message;
  EXPECT_EQ(callOuter(), TDSL_CUDA_UNAVAILABLE) << "the second call forgot why";
  EXPECT_EQ(tdsl_last_error(), message);
}

/// Device buffers freed on every path out.
struct DeviceBuffers {
  std::vector<cu::DevicePtr> pointers;
  ~DeviceBuffers() {
    for (cu::DevicePtr p : pointers)
      cu::device().release(p);
  }
};

/// An e2e program's library and the JIT's module of the same program, scheduled as the images
/// were for this GPU; skipped without a GPU of compute capability 8.0 or 9.0.
class AotCudaSuite : public testing::TestWithParam<size_t> {
protected:
  void SetUp() override {
    if (!cu::status().available)
      GTEST_SKIP() << "no GPU: " << cu::status().reason;
    const cu::DeviceInfo &device = cu::device().info();
    int cc = device.major * 10 + device.minor;
    if (cc != 80 && cc != 90)
      GTEST_SKIP() << "the libraries hold cubins for sm_80 and sm_90; this GPU is sm_" << cc;
    JitOptions options;
    options.target = Target::cuda();
    options.target.gpu = "sm_" + std::to_string(cc); // Scheduled as the image was.
    options.diskCache = false;
    const AotLibrary &library = e2eLibraries()[GetParam()];
    module = Jit(options).compileFile(library.program);
    for (const AotEntry &entry : library.kernels)
      entries[entry.kernel] = &entry;
  }
  Module module;
  std::map<std::string, const AotEntry *> entries;
};

TEST_P(AotCudaSuite, BitIdenticalToTheJitsCuda) {
  std::mt19937 rng(2026);
  forEachSuiteRun(
      module, rng, {0, 1, 3, 17, 33}, 3, 41,
      [&](const Kernel &kernel, const std::string &name, const std::vector<Tensor> &inputs) {
        ASSERT_TRUE(entries.count(name)) << name << " is missing from the library";
        std::vector<std::vector<int64_t>> outputShapes = kernel.outputShapes(inputs);
        DeviceBuffers device;
        AotCall call;
        for (size_t t = 0; t < inputs.size() + outputShapes.size(); ++t) {
          bool input = t < inputs.size();
          Tensor host = input ? inputs[t]
                              : Tensor::zeros(outputShapes[t - inputs.size()],
                                              kernel.outputDType(t - inputs.size()));
          device.pointers.push_back(cu::device().allocate(host.nbytes(), name));
          if (input)
            cu::device().copyToDevice(device.pointers.back(), host.data(), host.nbytes());
          call.data.push_back(reinterpret_cast<void *>(device.pointers.back()));
          call.shapes.push_back(host.shape());
        }
        call.symbols = symbolsOf(kernel, inputs);
        call.stream = cu::device().stream(); // Ordered with the copies, which use the same stream.
        int status = entries[name]->call(call);
        std::vector<Tensor> expected;
        try {
          expected = kernel(inputs);
        } catch (const RuntimeError &error) { // A gather out of range: the same message.
          EXPECT_EQ(status, TDSL_INDEX_OUT_OF_RANGE) << name;
          EXPECT_EQ(tdsl_last_error(), std::string(error.what())) << name;
          return;
        }
        ASSERT_EQ(status, TDSL_OK) << name << ": " << tdsl_last_error();
        cu::device().synchronize("AOT kernel " + name);
        for (size_t o = 0; o < expected.size(); ++o) {
          Tensor actual = Tensor::zeros(expected[o].shape(), expected[o].dtype());
          cu::device().copyToHost(actual.data(), device.pointers[inputs.size() + o],
                                  actual.nbytes());
          EXPECT_EQ(std::memcmp(expected[o].data(), actual.data(), actual.nbytes()), 0)
              << name << " output " << o << ": the AOT result differs from the JIT's";
        }
      });
}

// The _strided functions on device views (transposed, padded, and contiguous ones beside them)
// give bit for bit the JIT's results on the same data made contiguous, and write nothing
// outside an output's elements (the copies through device scratch).
TEST_P(AotCudaSuite, StridedViewsGiveTheJitsBits) {
  const std::pair<Layout, Layout> layouts[] = {{Layout::Transposed, Layout::Contiguous},
                                               {Layout::Padded, Layout::Padded},
                                               {Layout::Contiguous, Layout::Transposed}};
  std::mt19937 rng(2027);
  for (const auto &[inputLayout, outputLayout] : layouts)
    forEachSuiteRun(
        module, rng, {0, 3, 17}, 2, 29,
        [&](const Kernel &kernel, const std::string &name, const std::vector<Tensor> &inputs) {
          std::vector<std::vector<int64_t>> outputShapes = kernel.outputShapes(inputs);
          size_t numTensors = inputs.size() + outputShapes.size();
          std::vector<StridedBuffer> buffers;
          DeviceBuffers device;
          AotCall call;
          for (size_t t = 0; t < numTensors; ++t) {
            bool input = t < inputs.size();
            Layout layout = input ? inputLayout : outputLayout;
            DType dtype = input ? inputs[t].dtype() : kernel.outputDType(t - inputs.size());
            buffers.emplace_back(input ? inputs[t].shape() : outputShapes[t - inputs.size()], dtype,
                                 layout);
            if (input)
              buffers.back().copyFrom(inputs[t]);
            const std::vector<std::byte> &bytes = buffers.back().bytes;
            device.pointers.push_back(cu::device().allocate(bytes.size(), name));
            cu::device().copyToDevice(device.pointers.back(), bytes.data(), bytes.size());
            call.data.push_back(reinterpret_cast<void *>(device.pointers.back()));
            call.shapes.push_back(buffers.back().shape);
            call.strides.push_back(layout == Layout::Contiguous ? std::vector<int64_t>{}
                                                                : buffers.back().strides);
          }
          call.symbols = symbolsOf(kernel, inputs);
          call.stream = cu::device().stream();
          int status = entries[name]->callStrided(call);
          std::vector<Tensor> expected;
          try {
            expected = kernel(inputs);
          } catch (const RuntimeError &error) {
            EXPECT_EQ(status, TDSL_INDEX_OUT_OF_RANGE) << name;
            EXPECT_EQ(tdsl_last_error(), std::string(error.what())) << name;
            return;
          }
          ASSERT_EQ(status, TDSL_OK) << name << ": " << tdsl_last_error();
          cu::device().synchronize("AOT kernel " + name);
          for (size_t o = 0; o < expected.size(); ++o) {
            StridedBuffer &out = buffers[inputs.size() + o];
            cu::device().copyToHost(out.bytes.data(), device.pointers[inputs.size() + o],
                                    out.bytes.size());
            std::string what = name + " output " + std::to_string(o);
            Tensor actual = out.gather(expected[o].dtype());
            EXPECT_EQ(std::memcmp(expected[o].data(), actual.data(), actual.nbytes()), 0)
                << what << ": the AOT result differs from the JIT's";
            EXPECT_TRUE(out.paddingUntouched()) << what << " was written outside its elements";
          }
        });
}

INSTANTIATE_TEST_SUITE_P(E2e, AotCudaSuite, testing::Range<size_t>(0, e2eLibraries().size()),
                         [](const testing::TestParamInfo<size_t> &info) {
                           std::string stem =
                               std::filesystem::path(e2eLibraries()[info.param].program).stem();
                           for (char &c : stem)
                             c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return stem;
                         });

} // namespace
