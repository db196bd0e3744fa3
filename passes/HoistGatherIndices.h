// hoistGatherIndices: a gather's index read from an index tensor at a position that a loop does
// not move (ids[t] in the loop over d of table[ids[t] * D + d]) is read once before the loop.
//
//   for d.outer in [0, E) serial              let ids.index = ids[t] if (0 < E)
//     ... table[ramp(i64(ids[t]) * D ...)]  =>  for d.outer in [0, E) serial
//                                                 ... table[ramp(i64(ids.index) * D ...)]
#pragma once

#include "ir/Kernel.h"

namespace tdsl::passes {

/// In each serial loop, the unpredicated scalar loads of input tensors that stand in the index
/// of another load (a gather's index), at an index that uses neither the loop's variable nor
/// anything bound inside the loop, are read once into a Let before the loop, the read
/// predicated on the loop having a step (an empty loop reads nothing; a loop with a step made
/// that read at a point of its domain, which sema proved in bounds). Innermost loops first, so a
/// read moves out of every loop that does not move it. Requires: loop IR whose inputs are never
/// written. Keeps: every value loaded and stored; parallel and GPU loops as they are.
[[nodiscard]] ir::Stmt hoistGatherIndices(const ir::Stmt &s);

} // namespace tdsl::passes
