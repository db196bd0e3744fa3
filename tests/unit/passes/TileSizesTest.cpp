// chooseTiles: the micro-kernel's rows follow the vector registers unless the target asks for
// fewer (the JIT's fast tier), and the k blocks, which decide each output's summation order, stay
// those of the full micro-kernel either way.
#include "passes/Target.h"
#include "passes/Tile.h"

#include <gtest/gtest.h>

namespace {

using namespace tdsl::passes;

TEST(TileSizes, FewerRowsKeepTheBlocks) {
  for (int vectorBits : {256, 512}) {
    CpuTarget full;
    full.vectorBits = vectorBits;
    CpuTarget compact = full;
    compact.microKernelRows = 2;
    TileSizes a = chooseTiles(full), b = chooseTiles(compact);
    EXPECT_GT(a.mr, 2) << vectorBits;
    EXPECT_EQ(b.mr, 2) << vectorBits;
    EXPECT_EQ(b.nr, a.nr) << vectorBits;
    EXPECT_EQ(b.kc, a.kc) << vectorBits;
    EXPECT_EQ(b.nc, a.nc) << vectorBits;
  }
}

TEST(TileSizes, NeverMoreRowsThanTheRegistersHold) {
  CpuTarget many;
  many.microKernelRows = 64;
  EXPECT_EQ(chooseTiles(many).mr, chooseTiles(CpuTarget{}).mr);
}

} // namespace
