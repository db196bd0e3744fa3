// A small helper for building tensor-level kernels by hand in the passes' tests.
#pragma once

#include "ir/Kernel.h"

#include <string>
#include <vector>

namespace tdsl::testing_passes {

using namespace tdsl::ir;

class KernelBuilder {
public:
  explicit KernelBuilder(std::string name) { kernel.name = std::move(name); }

  Expr sym(const std::string &name) {
    Var v = makeVar(name, Type::i64(), VarKind::Symbol);
    kernel.symbols.push_back(v);
    return VarRef::make(v);
  }
  Buffer input(const std::string &name, DType dtype, std::vector<Expr> shape) {
    Buffer b = makeBuffer(name, dtype, std::move(shape), BufferRole::Input);
    kernel.inputs.push_back(b);
    return b;
  }
  Buffer output(const std::string &name, DType dtype, std::vector<Expr> shape) {
    Buffer b = makeBuffer(name, dtype, std::move(shape), BufferRole::Output);
    kernel.outputs.push_back(b);
    return b;
  }
  Buffer temp(const std::string &name, DType dtype, std::vector<Expr> shape) {
    return makeBuffer(name, dtype, std::move(shape), BufferRole::Intermediate);
  }
  /// `target[indices] = value`; the indices' extents are the target's dims.
  void def(const Buffer &target, const std::vector<Var> &indices, Expr value) {
    std::vector<IterVar> ivs;
    for (size_t k = 0; k < indices.size(); ++k)
      ivs.push_back(IterVar{indices[k], target->shape[k]});
    kernel.defs.push_back(Definition{target, std::move(ivs), std::move(value), {}});
  }

  Kernel kernel;
};

inline Var idx(const std::string &name) { return makeVar(name, Type::i64(), VarKind::Index); }
inline Expr at(const Buffer &b, std::vector<Expr> indices, Expr fallback = nullptr) {
  return Access::make(b, std::move(indices), std::move(fallback));
}
inline Expr v(const Var &var) { return VarRef::make(var); }
inline Expr reduce(ReduceOp op, std::vector<IterVar> axes, Expr body) {
  return Reduce::make(op, std::move(axes), std::move(body));
}
inline Expr bin(BinaryOp op, Expr a, Expr b) {
  return Binary::make(op, std::move(a), std::move(b));
}
inline Expr call(Intrinsic fn, Expr a) { return Call::make(fn, {std::move(a)}); }
inline Expr f32(double value) { return floatImm(value, DType::F32); }
inline Expr i64(int64_t value) { return intImm(value, DType::I64); }

} // namespace tdsl::testing_passes
