// Shape arithmetic end to end (tests/e2e/shape_arithmetic.tdsl) at the sizes where floors and
// remainders bite: empty extents (a symbol of 0, or 1 where H // 2 is 0), odd sizes, each symbol
// drawn on its own. Every result, through both calling paths, must match the interpreter.
#include "tdsl/tdsl.h"
#include "tests/unit/common/SuitePrograms.h"

#include <gtest/gtest.h>

#include <random>

namespace {

using namespace tdsl;
using namespace tdsl::testing_support;

const std::string kProgram = std::string(TDSL_SOURCE_DIR) + "/tests/e2e/shape_arithmetic.tdsl";

TEST(ShapeArithmetic, EmptyAndOddExtentsMatchTheInterpreter) {
  Module module = Jit().compileFile(kProgram);
  std::mt19937 rng(2024);
  forEachSuiteRun(
      module, rng, {0, 1, 2, 3, 7}, 12, 11,
      [](const Kernel &kernel, const std::string &name, const std::vector<Tensor> &inputs) {
        std::vector<Tensor> fresh = kernel(inputs);
        expectMatchesInterpreter(kernel, name, inputs, fresh);
        // Into given outputs: the plan's shapes must be the ones the call computed.
        std::vector<Tensor> given;
        for (size_t o = 0; o < fresh.size(); ++o)
          given.push_back(Tensor::zeros(fresh[o].shape(), kernel.outputDType(o)));
        kernel.run(inputs, given);
        expectMatchesInterpreter(kernel, name, inputs, given);
      });
}

TEST(ShapeArithmetic, OutputShapesFloorAsPython) {
  Module module = Jit().compileFile(kProgram);
  auto shapeOf = [&](const std::string &kernel, const std::map<std::string, int64_t> &sizes) {
    Kernel k = module.kernel(kernel);
    return k.outputShapes(k.randomInputs(sizes, 1))[0];
  };
  using Shape = std::vector<int64_t>;
  EXPECT_EQ(shapeOf("maxpool2", {{"B", 2}, {"C", 3}, {"H", 7}, {"W", 1}}), (Shape{2, 3, 3, 0}));
  EXPECT_EQ(shapeOf("flatten", {{"H", 7}, {"W", 0}}), (Shape{0}));
  EXPECT_EQ(shapeOf("flatten3", {{"C", 2}, {"H", 3}, {"W", 5}}), (Shape{30}));
  EXPECT_EQ(shapeOf("stride2", {{"N", 7}, {"D", 2}}), (Shape{4, 2}));
  EXPECT_EQ(shapeOf("pixel_shuffle", {{"C", 7}, {"H", 2}, {"W", 3}}), (Shape{1, 4, 6}));
  EXPECT_EQ(shapeOf("avgpool", {{"H", 7}, {"K", 0}}), (Shape{0})); // 7 // 0 == 0
  EXPECT_EQ(shapeOf("halves", {{"N", 7}}), (Shape{4}));
  EXPECT_EQ(shapeOf("pool_twice", {{"B", 1}, {"C", 1}, {"H", 9}, {"W", 4}}), (Shape{1, 1, 2, 1}));
}

TEST(ShapeArithmetic, FlattenIsTheRowMajorOrder) {
  Kernel flatten = Jit().compileFile(kProgram).kernel("flatten");
  Tensor x = Tensor::randn({5, 7}, DType::F32, 3);
  Tensor y = flatten({x})[0];
  ASSERT_EQ(y.shape(), (std::vector<int64_t>{35}));
  for (int64_t i = 0; i < 35; ++i)
    EXPECT_EQ(y.at(i), x.at(i)) << i;
}

} // namespace
