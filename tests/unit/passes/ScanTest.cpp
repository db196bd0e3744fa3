// Prefix scans (passes/Scan.h): which triangular reductions are recognized as a running
// accumulator along one index, and which are not.
#include "passes/Scan.h"

#include "KernelBuilder.h"
#include "ir/IRPrinter.h"

#include <gtest/gtest.h>

namespace {

using namespace tdsl;
using namespace tdsl::ir;
using namespace tdsl::testing_passes;

struct Rows {
  KernelBuilder b{"scan"};
  Expr N = b.sym("N"), D = b.sym("D");
  Buffer x = b.input("x", DType::F32, {N, D});
  Buffer y = b.output("y", DType::F32, {N, D});
  Var i = idx("i"), j = idx("j"), k = idx("k"), l = idx("l");

  /// y[i, j] = op(body for k < extent).
  const Definition &define(ReduceOp op, Expr extent, Expr body) {
    b.def(y, {i, j}, reduce(op, {{k, std::move(extent)}}, std::move(body)));
    return b.kernel.defs.back();
  }
};

TEST(Scan, PrefixAlongTheLastIndex) {
  Rows r;
  const Definition &d = r.define(ReduceOp::Sum, add(v(r.j), i64(1)), at(r.x, {v(r.i), v(r.k)}));
  std::optional<passes::ScanAxis> scan = passes::recognizeScan(d);
  ASSERT_TRUE(scan);
  EXPECT_EQ(scan->index, 1u);
  EXPECT_EQ(toString(scan->offset), "1");
  EXPECT_TRUE(passes::isTriangular(d));
}

TEST(Scan, PrefixAlongTheFirstIndexWithALagOfSymbols) {
  Rows r;
  Expr extent = sub(v(r.i), r.D);
  const Definition &d = r.define(ReduceOp::Max, extent, at(r.x, {v(r.k), v(r.j)}));
  std::optional<passes::ScanAxis> scan = passes::recognizeScan(d);
  ASSERT_TRUE(scan);
  EXPECT_EQ(scan->index, 0u);
  EXPECT_EQ(toString(scan->offset), "-D");
}

TEST(Scan, TriangularReductionsThatAreNotScans) {
  {
    Rows r; // The body reads j.
    const Definition &d = r.define(ReduceOp::Sum, add(v(r.j), i64(1)),
                                   mul(at(r.x, {v(r.i), v(r.k)}), at(r.x, {v(r.i), v(r.j)})));
    EXPECT_FALSE(passes::recognizeScan(d));
    EXPECT_TRUE(passes::isTriangular(d));
  }
  {
    Rows r; // Two indices in the bound.
    const Definition &d = r.define(ReduceOp::Sum, add(v(r.i), v(r.j)), at(r.x, {v(r.i), v(r.k)}));
    EXPECT_FALSE(passes::recognizeScan(d));
  }
  {
    Rows r; // Twice j per step: not a running accumulator.
    const Definition &d = r.define(ReduceOp::Sum, mul(i64(2), v(r.j)), at(r.x, {v(r.i), v(r.k)}));
    EXPECT_FALSE(passes::recognizeScan(d));
  }
  {
    Rows r; // argmax keeps its (value, position) loop.
    const Definition &d =
        r.define(ReduceOp::ArgMax, add(v(r.j), i64(1)), at(r.x, {v(r.i), v(r.k)}));
    EXPECT_FALSE(passes::recognizeScan(d));
  }
  {
    Rows r; // Rectangular.
    const Definition &d = r.define(ReduceOp::Sum, r.D, at(r.x, {v(r.i), v(r.k)}));
    EXPECT_FALSE(passes::recognizeScan(d));
    EXPECT_FALSE(passes::isTriangular(d));
  }
}

} // namespace
