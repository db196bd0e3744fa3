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

TEST(TileSizes, TailRowsAreThePowerOfTwoBelowTheRows) {
  // 14 rows with AVX-512: a last panel of at most 8 rows (M = 64 = 4 x 14 + 8) takes an 8-row
  // kernel; 6 with AVX2: 4; the fast tier's 2-row kernel has no tail kernel.
  CpuTarget avx2 = cpuTargetForLevel("x86-64-v3"), compact;
  compact.microKernelRows = 2;
  EXPECT_EQ(chooseTiles(CpuTarget{}).tailRows, 8);
  EXPECT_EQ(chooseTiles(avx2).tailRows, 4);
  EXPECT_EQ(chooseTiles(compact).tailRows, 0);
}

} // namespace
