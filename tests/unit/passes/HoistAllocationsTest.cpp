// hoistAllocations: heap intermediates of a serial loop's steps with a size the loop does not
// change move around the loop (through several loops); those whose size depends on the loop, and
// those of parallel loops, stay.
#include "passes/HoistAllocations.h"
#include "ir/IRPrinter.h"

#include <gtest/gtest.h>

namespace {

using namespace tdsl;
using namespace tdsl::ir;

struct Nest {
  Var W = makeVar("W", Type::i64(), VarKind::Symbol);
  Var i = makeVar("i", Type::i64(), VarKind::Loop);
  Var j = makeVar("j", Type::i64(), VarKind::Loop);
  Buffer x = makeBuffer("x", DType::F32, {ref(W)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {ref(W)}, BufferRole::Output);

  /// for j in [0, W): row[j] = x[j]; y[j] = row[j] (a row-sized heap intermediate).
  Stmt rowThrough(const Buffer &row) const {
    return Allocate::make(
        row, MemoryScope::Heap,
        Block::make(
            {For::make(j, ref(W), ForKind::Serial, Store::make(row, ref(j), Load::make(x, ref(j)))),
             For::make(j, ref(W), ForKind::Serial,
                       Store::make(y, ref(j), Load::make(row, ref(j))))}));
  }
};

TEST(HoistAllocations, ARowBufferOfEveryStepIsAllocatedOnceAroundTheLoop) {
  Nest n;
  Buffer row = makeBuffer("row", DType::F32, {ref(n.W)}, BufferRole::Intermediate);
  Stmt first = For::make(n.j, ref(n.W), ForKind::Serial,
                         Store::make(n.y, ref(n.j), Load::make(n.x, ref(n.j))));
  Stmt loop = For::make(n.i, intImm(8), ForKind::Serial, Block::make({first, n.rowThrough(row)}));
  std::string hoisted = toString(passes::hoistAllocations(loop));
  EXPECT_EQ(hoisted.find("allocate row: f32[W] heap"), 0u) << hoisted;
  EXPECT_LT(hoisted.find("allocate row"), hoisted.find("for i in [0, 8) serial")) << hoisted;
  EXPECT_EQ(hoisted.find("allocate", 1), std::string::npos) << hoisted;
}

TEST(HoistAllocations, OutOfEverySerialLoopThatKeepsItsSize) {
  Nest n;
  Var k = makeVar("k", Type::i64(), VarKind::Loop);
  Buffer row = makeBuffer("row", DType::F32, {ref(n.W)}, BufferRole::Intermediate);
  Stmt nest = For::make(k, intImm(4), ForKind::Serial,
                        For::make(n.i, intImm(8), ForKind::Serial, n.rowThrough(row)));
  std::string hoisted = toString(passes::hoistAllocations(nest));
  EXPECT_EQ(hoisted.find("allocate row: f32[W] heap"), 0u) << hoisted;
}

TEST(HoistAllocations, ASizeTheLoopChangesOrAParallelLoopStays) {
  Nest n;
  Buffer growing =
      makeBuffer("growing", DType::F32, {add(ref(n.W), ref(n.i))}, BufferRole::Intermediate);
  Stmt serial = For::make(n.i, intImm(8), ForKind::Serial, n.rowThrough(growing));
  std::string kept = toString(passes::hoistAllocations(serial));
  EXPECT_LT(kept.find("for i in [0, 8) serial"), kept.find("allocate growing")) << kept;

  Buffer row = makeBuffer("row", DType::F32, {ref(n.W)}, BufferRole::Intermediate);
  Stmt parallel = For::make(n.i, intImm(8), ForKind::Parallel, n.rowThrough(row));
  std::string perStep = toString(passes::hoistAllocations(parallel));
  EXPECT_LT(perStep.find("for i in [0, 8) parallel"), perStep.find("allocate row")) << perStep;
}

} // namespace
