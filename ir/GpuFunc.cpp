// What the CUDA printer and launcher read off a func lowered for the GPU (see GpuFunc.h).
#include "ir/GpuFunc.h"

#include "ir/IRVisitor.h"
#include "support/Check.h"

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

/// Calls `visit` on each LetStmt and Allocate around the launch's gpu_block loop, outermost
/// first, and returns that loop (null when the body has another shape).
template <typename F> Stmt walkPrologue(const GpuLaunch *launch, F visit) {
  Stmt s = launch->body;
  for (;;) {
    if (const LetStmt *l = s->as<LetStmt>()) {
      visit(l, nullptr);
      s = l->body;
    } else if (const Allocate *a = s->as<Allocate>(); a && a->scope == MemoryScope::Heap) {
      visit(nullptr, a);
      s = a->body;
    } else {
      const For *f = s->as<For>();
      return f && f->kind == ForKind::GpuBlock ? s : nullptr;
    }
  }
}

/// The launch's gpu_block For, which must be there.
const For *loopOf(const GpuLaunch *launch) {
  Stmt s = blockLoop(launch);
  TDSL_CHECK(s) << "GPU launch " << launch->name << " without a gpu_block loop";
  return s->as<For>();
}

/// The GPU intrinsics of a statement.
std::vector<const GpuIntrinsic *> intrinsics(const Stmt &s) {
  struct Finder : IRVisitor {
    std::vector<const GpuIntrinsic *> found;
    void visitGpuIntrinsic(const GpuIntrinsic *n) override {
      found.push_back(n);
      IRVisitor::visitGpuIntrinsic(n);
    }
  } finder;
  finder.visit(s);
  return finder.found;
}

} // namespace

std::vector<const GpuLaunch *> gpuLaunches(const LoweredFunc &gpu) {
  std::vector<const GpuLaunch *> launches;
  const Block *block = gpu.body->as<Block>();
  for (const Stmt &s : block ? block->stmts : std::vector<Stmt>{gpu.body}) {
    const GpuLaunch *l = s->as<GpuLaunch>();
    TDSL_CHECK(l) << "top-level statement of " << gpu.name
                  << " is not a GPU launch (lower it with passes::lowerForGpu)";
    launches.push_back(l);
  }
  return launches;
}

Stmt blockLoop(const GpuLaunch *launch) {
  return walkPrologue(launch, [](const LetStmt *, const Allocate *) {});
}

Expr launchBlocks(const GpuLaunch *launch) { return loopOf(launch)->extent; }

Expr launchThreads(const GpuLaunch *launch) {
  struct Finder : IRVisitor {
    Expr threads;
    void visitFor(const For *n) override {
      if (n->kind == ForKind::GpuThread && !threads)
        threads = n->extent;
      else
        IRVisitor::visitFor(n);
    }
  } finder;
  finder.visit(loopOf(launch)->body);
  TDSL_CHECK(finder.threads) << "GPU launch " << launch->name << " without a gpu_thread loop";
  return finder.threads;
}

std::vector<std::pair<Var, Expr>> launchLets(const GpuLaunch *launch) {
  std::vector<std::pair<Var, Expr>> lets;
  walkPrologue(launch, [&](const LetStmt *l, const Allocate *) {
    if (l)
      lets.push_back({l->var, l->value});
  });
  return lets;
}

std::vector<Buffer> launchHeap(const GpuLaunch *launch) {
  std::vector<Buffer> heap;
  walkPrologue(launch, [&](const LetStmt *, const Allocate *a) {
    if (a)
      heap.push_back(a->buffer);
  });
  return heap;
}

std::vector<Buffer> gpuHeapBuffers(const LoweredFunc &gpu) {
  std::vector<Buffer> heap;
  for (const GpuLaunch *l : gpuLaunches(gpu))
    for (const Buffer &b : launchHeap(l))
      if (std::find(heap.begin(), heap.end(), b) == heap.end())
        heap.push_back(b);
  return heap;
}

DType tensorCoreType(const Stmt &s) {
  for (const GpuIntrinsic *g : intrinsics(s))
    if (g->op == GpuOp::MmaSync || g->op == GpuOp::Wgmma)
      return g->buffers[1]->dtype;
  return DType::F32;
}

bool usesWgmma(const Stmt &s) {
  std::vector<const GpuIntrinsic *> all = intrinsics(s);
  return std::any_of(all.begin(), all.end(),
                     [](const GpuIntrinsic *g) { return g->op == GpuOp::Wgmma; });
}

bool isDynamicShared(const Allocate *a) {
  if (a->scope != MemoryScope::Shared)
    return false;
  int64_t bytes = byteSize(a->buffer->dtype);
  for (const Expr &d : a->buffer->shape) {
    const IntImm *c = as<IntImm>(d);
    if (!c || c->value < 0 || __builtin_mul_overflow(bytes, c->value, &bytes))
      return true;
  }
  return bytes > kStaticSharedLimit;
}

bool isSwizzledTile(const Stmt &s, const Buffer &buffer) {
  struct Finder : IRVisitor {
    const BufferNode *buffer;
    bool found = false;
    explicit Finder(const BufferNode *b) : buffer(b) {}
    void visitGpuIntrinsic(const GpuIntrinsic *n) override {
      if (n->op == GpuOp::Wgmma || n->op == GpuOp::StoreSwizzled)
        for (const Buffer &b : n->buffers)
          found |= b.get() == buffer;
      IRVisitor::visitGpuIntrinsic(n);
    }
  } finder(buffer.get());
  finder.visit(s);
  return finder.found;
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

} // namespace tdsl::ir
