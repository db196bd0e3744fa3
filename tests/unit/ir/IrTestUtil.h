// Building tensor-level kernels by hand for the ir tests: a thin layer over the IR constructors.
#pragma once

#include "ir/IR.h"
#include "ir/Kernel.h"
#include "tdsl/Tensor.h"

#include <string>
#include <vector>

namespace tdsl::ir::test {

/// A variable's value (`ref` would collide with std::ref through argument-dependent lookup).
inline Expr vr(const Var &v) { return VarRef::make(v); }
inline Expr imm(int64_t v, DType t = DType::I64) { return intImm(v, t); }
inline Expr fimm(double v, DType t = DType::F32) { return floatImm(v, t); }
inline Expr bin(BinaryOp op, Expr a, Expr b) {
  return Binary::make(op, std::move(a), std::move(b));
}
inline Expr call(Intrinsic fn, Expr a) { return Call::make(fn, {std::move(a)}); }
inline Expr cast(DType t, Expr a) { return Cast::make(Type::scalar(t), std::move(a)); }
inline Expr at(const Buffer &b, std::vector<Expr> idx, Expr fallback = nullptr) {
  return Access::make(b, std::move(idx), std::move(fallback));
}
inline Expr reduceOver(ReduceOp op, std::vector<IterVar> axes, Expr body) {
  return Reduce::make(op, std::move(axes), std::move(body));
}

/// Collects symbols, parameters and definitions into a Kernel.
struct KernelBuilder {
  Kernel k;

  explicit KernelBuilder(std::string name) { k.name = std::move(name); }

  Var sym(const std::string &name) {
    Var v = makeVar(name, Type::i64(), VarKind::Symbol);
    k.symbols.push_back(v);
    return v;
  }
  static Var index(const std::string &name) { return makeVar(name, Type::i64(), VarKind::Index); }

  Buffer input(const std::string &name, DType t, std::vector<Expr> dims) {
    Buffer b = makeBuffer(name, t, std::move(dims), BufferRole::Input);
    k.inputs.push_back(b);
    return b;
  }
  Buffer output(const std::string &name, DType t, std::vector<Expr> dims) {
    Buffer b = makeBuffer(name, t, std::move(dims), BufferRole::Output);
    k.outputs.push_back(b);
    return b;
  }
  static Buffer temp(const std::string &name, DType t, std::vector<Expr> dims) {
    return makeBuffer(name, t, std::move(dims), BufferRole::Intermediate);
  }
  /// target[vars...] = value, the extents being the target's dims.
  void def(const Buffer &target, const std::vector<Var> &vars, Expr value) {
    Definition d;
    d.target = target;
    for (size_t i = 0; i < vars.size(); ++i)
      d.indices.push_back(IterVar{vars[i], target->shape[i]});
    d.value = std::move(value);
    k.defs.push_back(std::move(d));
  }
};

/// A tensor holding `values` (converted to `dtype`) in row-major order.
inline Tensor tensorOf(std::vector<int64_t> shape, DType dtype, const std::vector<double> &values) {
  Tensor t = Tensor::zeros(std::move(shape), dtype);
  for (size_t i = 0; i < values.size(); ++i)
    t.set(static_cast<int64_t>(i), values[i]);
  return t;
}
inline Tensor intTensorOf(std::vector<int64_t> shape, DType dtype,
                          const std::vector<int64_t> &values) {
  Tensor t = Tensor::zeros(std::move(shape), dtype);
  for (size_t i = 0; i < values.size(); ++i)
    t.setInt(static_cast<int64_t>(i), values[i]);
  return t;
}
inline std::vector<double> valuesOf(const Tensor &t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.numel(); ++i)
    v.push_back(t.at(i));
  return v;
}
inline std::vector<int64_t> intValuesOf(const Tensor &t) {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < t.numel(); ++i)
    v.push_back(t.atInt(i));
  return v;
}

} // namespace tdsl::ir::test
