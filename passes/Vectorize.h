// Turns loops of kind Vectorized into vector code.
#pragma once

#include "ir/Kernel.h"

namespace tdsl::passes {

/// Rewrites every `For(v, W, Vectorized, body)` (W a constant) so that `v` becomes the lanes of
/// a vector `ramp(0, 1, W)`: loads and stores at indices affine in `v` with stride 1 become
/// contiguous vector accesses (others gathers/scatters), values not depending on `v` stay scalar
/// and are broadcast where they meet vectors, and an `IfThenElse(cond(v), ...)` guard inside the
/// loop becomes a predicate on the stores (and loads) below it, so remainders are masked rather
/// than scalar. Requires: simplified loop IR. Keeps: the values stored, lane by lane.
[[nodiscard]] ir::Stmt vectorize(const ir::Stmt &s);

} // namespace tdsl::passes
