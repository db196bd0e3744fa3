// The recognition of prefix reductions (see Scan.h).
#include "passes/Scan.h"

#include "ir/Affine.h"
#include "ir/IRVisitor.h"
#include "passes/Fuse.h"

namespace tdsl::passes {
namespace {

using namespace ir;

/// Finds triangular extents anywhere in a value.
class TriangularExtent : public IRVisitor {
public:
  bool found = false;

protected:
  void visitReduce(const Reduce *n) override {
    for (const IterVar &iv : n->axes)
      found |= usesIndexVars(iv.extent);
    IRVisitor::visitReduce(n);
  }
};

} // namespace

std::optional<ScanAxis> recognizeScan(const Definition &def) {
  const Reduce *r = topReduce(def);
  if (!r || isArgReduction(r->op) || r->axes.size() != 1)
    return std::nullopt;
  std::optional<AffineExpr> extent = toAffine(r->axes[0].extent);
  if (!extent)
    return std::nullopt;
  std::optional<size_t> found;
  for (size_t p = 0; p < def.indices.size(); ++p) {
    const Var &j = def.indices[p].var;
    if (!extent->mentions(j))
      continue;
    auto it = extent->terms.find(Atom(j));
    if (found || it == extent->terms.end() || it->second != 1)
      return std::nullopt;
    found = p;
  }
  if (!found)
    return std::nullopt;
  const Var &j = def.indices[*found].var;
  AffineExpr offset = *extent - AffineExpr{0, {{Atom(j), 1}}};
  Expr offsetExpr = toExpr(offset);
  if (usesIndexVars(offsetExpr) || usesAny(r->body, {j}))
    return std::nullopt;
  return ScanAxis{*found, offsetExpr};
}

bool isTriangular(const Definition &def) {
  TriangularExtent t;
  t.visit(def.value);
  return t.found;
}

} // namespace tdsl::passes
