// simplify on random integer expressions: the result must evaluate (ir::evalInt, the shape
// evaluator, which wraps and floors like run time) to the same value as the input for random
// variable values, extremes included, and a second simplify must change nothing.
#include "ir/IRPrinter.h"
#include "ir/Shapes.h"
#include "passes/Pipeline.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>

namespace {

using namespace tdsl;
using namespace tdsl::ir;

class RandomIntExpr {
public:
  RandomIntExpr(DType dtype, uint64_t seed) : dtype(dtype), rng(seed) {
    for (const char *name : {"i", "j", "N"})
      vars.push_back(makeVar(name, Type::scalar(dtype), VarKind::Let));
  }

  Expr make(int depth) {
    int pick = static_cast<int>(rng() % (depth <= 0 ? 2 : 12));
    switch (pick) {
    case 0:
      return constant();
    case 1:
      return VarRef::make(vars[rng() % vars.size()]);
    case 2:
    case 3:
      return Binary::make(BinaryOp::Add, make(depth - 1), make(depth - 1));
    case 4:
    case 5:
      return Binary::make(BinaryOp::Sub, make(depth - 1), make(depth - 1));
    case 6:
    case 7:
      return Binary::make(BinaryOp::Mul, make(depth - 1), make(depth - 1));
    case 8:
      return Binary::make(rng() % 2 ? BinaryOp::FloorDiv : BinaryOp::Mod, make(depth - 1),
                          make(depth - 1));
    case 9:
      return Binary::make(rng() % 2 ? BinaryOp::Min : BinaryOp::Max, make(depth - 1),
                          make(depth - 1));
    case 10:
      return Unary::make(UnaryOp::Neg, make(depth - 1));
    default: {
      Expr cond = Binary::make(rng() % 2 ? BinaryOp::Lt : BinaryOp::Eq, make(depth - 1),
                               make(depth - 1));
      return Select::make(cond, make(depth - 1), make(depth - 1));
    }
    }
  }

  std::vector<int64_t> values() {
    std::vector<int64_t> v;
    for (size_t k = 0; k < vars.size(); ++k)
      v.push_back(value());
    return v;
  }

  const DType dtype;
  std::vector<Var> vars;

private:
  std::mt19937_64 rng;

  int64_t extreme() {
    bool is32 = dtype == DType::I32;
    int64_t lo = is32 ? std::numeric_limits<int32_t>::min() : std::numeric_limits<int64_t>::min();
    int64_t hi = is32 ? std::numeric_limits<int32_t>::max() : std::numeric_limits<int64_t>::max();
    return rng() % 2 ? lo : hi;
  }
  int64_t value() {
    switch (rng() % 8) {
    case 0:
      return extreme();
    case 1:
      return static_cast<int64_t>(rng() % 2001) - 1000;
    default:
      return static_cast<int64_t>(rng() % 11) - 5;
    }
  }
  Expr constant() { return IntImm::make(Type::scalar(dtype), value()); }
};

void checkRandom(DType dtype, uint64_t seed) {
  RandomIntExpr gen(dtype, seed);
  for (int n = 0; n < 400; ++n) {
    Expr e = gen.make(4);
    Expr s = passes::simplify(e);
    ASSERT_EQ(s->type, e->type);
    for (int trial = 0; trial < 8; ++trial) {
      std::vector<int64_t> values = gen.values();
      ASSERT_EQ(evalInt(s, gen.vars, values), evalInt(e, gen.vars, values))
          << toString(e) << "\n  simplified to " << toString(s) << "\n  at i=" << values[0]
          << " j=" << values[1] << " N=" << values[2];
    }
    Expr again = passes::simplify(s);
    EXPECT_EQ(again, s) << toString(s) << " -> " << toString(again);
  }
}

TEST(SimplifyRandom, I64ExpressionsKeepTheirValue) { checkRandom(DType::I64, 1); }
TEST(SimplifyRandom, I32ExpressionsKeepTheirValue) { checkRandom(DType::I32, 2); }
TEST(SimplifyRandom, MoreSeeds) {
  for (uint64_t seed = 10; seed < 15; ++seed)
    checkRandom(seed % 2 ? DType::I32 : DType::I64, seed);
}

} // namespace
