#include "passes/HoistAllocations.h"

#include "ir/HeapAllocations.h"
#include "ir/IRVisitor.h"

namespace tdsl::passes {
namespace {

using namespace ir;

class Hoist : public IRMutator {
protected:
  Stmt visitFor(const For *n, const Stmt &self) override {
    Stmt body = mutate(n->body);
    if (n->kind != ForKind::Serial)
      return body == n->body ? self : For::make(n->var, n->extent, n->kind, body);
    PeeledAllocations peeled = peelHeapAllocations(body, [&](const Buffer &buffer) {
      return std::none_of(buffer->shape.begin(), buffer->shape.end(),
                          [&](const Expr &dim) { return usesAny(dim, {n->var}); });
    });
    if (peeled.buffers.empty())
      return body == n->body ? self : For::make(n->var, n->extent, n->kind, body);
    Stmt loop = For::make(n->var, n->extent, n->kind, peeled.body);
    for (auto it = peeled.buffers.rbegin(); it != peeled.buffers.rend(); ++it)
      loop = Allocate::make(*it, MemoryScope::Heap, loop);
    return loop;
  }
};

} // namespace

Stmt hoistAllocations(const Stmt &s) { return Hoist().mutate(s); }

} // namespace tdsl::passes
