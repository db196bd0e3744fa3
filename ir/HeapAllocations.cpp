#include "ir/HeapAllocations.h"

namespace tdsl::ir {

PeeledAllocations peelHeapAllocations(const Stmt &body,
                                      const std::function<bool(const Buffer &)> &movable) {
  PeeledAllocations peeled;
  auto peelChain = [&](Stmt s) {
    while (const auto *a = as<Allocate>(s)) {
      if (a->scope != MemoryScope::Heap || !movable(a->buffer))
        break;
      peeled.buffers.push_back(a->buffer);
      s = a->body;
    }
    return s;
  };
  peeled.body = peelChain(body);
  if (const auto *block = as<Block>(peeled.body)) {
    std::vector<Stmt> stmts;
    size_t before = peeled.buffers.size();
    for (const Stmt &s : block->stmts)
      stmts.push_back(peelChain(s));
    if (peeled.buffers.size() != before)
      peeled.body = Block::make(std::move(stmts));
  }
  return peeled;
}

} // namespace tdsl::ir
