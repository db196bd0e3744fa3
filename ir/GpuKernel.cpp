#include "ir/GpuKernel.h"

#include "ir/IRVisitor.h"

#include <algorithm>

namespace tdsl::ir {

namespace {

Expr elements(const Buffer &b) {
  Expr n;
  for (const Expr &d : b->shape)
    n = n ? mul(n, d) : d;
  return n ? n : intImm(1);
}

/// `a + b`, without the `0 +` of the first buffer.
Expr plus(const Expr &a, const Expr &b) {
  const IntImm *zero = as<IntImm>(a);
  return zero && zero->value == 0 ? b : add(a, b);
}

/// `bytes` rounded up to a multiple of 16, so that the next buffer starts 16-byte aligned.
Expr roundUp16(const Expr &bytes) {
  return mul(Binary::make(BinaryOp::FloorDiv, add(bytes, intImm(15)), intImm(16)), intImm(16));
}

} // namespace

bool isDynamicShared(const Allocate *a) {
  if (a->scope != MemoryScope::Shared)
    return false;
  for (const Expr &d : a->buffer->shape)
    if (!as<IntImm>(d))
      return true;
  return false;
}

std::vector<std::pair<Buffer, Expr>> dynamicSharedLayout(const Stmt &nest) {
  struct Finder : IRVisitor {
    std::vector<std::pair<Buffer, Expr>> layout;
    Expr end = intImm(0);
    void visitAllocate(const Allocate *n) override {
      if (isDynamicShared(n)) {
        layout.push_back({n->buffer, end});
        end = plus(end, roundUp16(mul(elements(n->buffer), intImm(byteSize(n->buffer->dtype)))));
      }
      IRVisitor::visitAllocate(n);
    }
  } finder;
  finder.visit(nest);
  return finder.layout;
}

Expr dynamicSharedBytes(const Stmt &nest) {
  std::vector<std::pair<Buffer, Expr>> layout = dynamicSharedLayout(nest);
  if (layout.empty())
    return intImm(0);
  const auto &[last, offset] = layout.back();
  return plus(offset, roundUp16(mul(elements(last), intImm(byteSize(last->dtype)))));
}

std::string scheduleName(GpuScheduleKind kind) {
  switch (kind) {
  case GpuScheduleKind::Generic:
    return "generic";
  case GpuScheduleKind::Vector:
    return "vector";
  case GpuScheduleKind::Permutation:
    return "permutation";
  case GpuScheduleKind::Rows:
    return "rows";
  case GpuScheduleKind::ReducePartials:
    return "reduce-partials";
  case GpuScheduleKind::ReduceFinal:
    return "reduce-final";
  case GpuScheduleKind::ColumnPartials:
    return "column-partials";
  case GpuScheduleKind::ColumnFinal:
    return "column-final";
  case GpuScheduleKind::Contraction:
    return "contraction";
  }
  return "?";
}

std::vector<Buffer> gpuHeapBuffers(const std::vector<GpuKernel> &kernels) {
  std::vector<Buffer> heap;
  for (const GpuKernel &k : kernels)
    for (const Buffer &b : k.allocations)
      if (std::find(heap.begin(), heap.end(), b) == heap.end())
        heap.push_back(b);
  return heap;
}

LoweredFunc gpuFunc(const LoweredFunc &plain, const std::vector<GpuKernel> &kernels) {
  std::vector<Stmt> launches;
  for (const GpuKernel &k : kernels) {
    // Lets outermost: they read no memory, and heap shapes may use them (a partials buffer).
    Stmt s = k.nest;
    for (auto it = k.allocations.rbegin(); it != k.allocations.rend(); ++it)
      s = Allocate::make(*it, MemoryScope::Heap, s);
    for (auto it = k.lets.rbegin(); it != k.lets.rend(); ++it)
      s = LetStmt::make(it->first, it->second, s);
    launches.push_back(s);
  }
  LoweredFunc func = plain;
  func.body = Block::make(launches);
  return func;
}

} // namespace tdsl::ir
