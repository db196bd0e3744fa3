// Planning and checking a kernel call without allocating (see CallPlan.h). The checks mirror
// ir::bindSymbols and ir::evalShape exactly: what the plan accepts, they accept with the same
// symbol values and shapes.
#include "api/CallPlan.h"

#include "ir/IntArith.h"
#include "ir/Shapes.h"

#include <algorithm>
#include <limits>

namespace tdsl::detail {

CallPlan::CallPlan(const ir::Kernel &kernel) {
  const std::vector<ir::Var> &symbols = kernel.symbols;
  // A kernel with gather checks takes the general path, which passes and reads their results.
  if (symbols.size() > kMaxSymbols || kernel.inputs.size() + kernel.outputs.size() > kMaxBuffers ||
      !kernel.checks.empty())
    fast_ = false;
  auto slotOf = [&](const ir::Var &v) -> int32_t {
    auto it = std::find(symbols.begin(), symbols.end(), v);
    return it == symbols.end() ? -1 : static_cast<int32_t>(it - symbols.begin());
  };

  std::vector<bool> bound(symbols.size(), false);
  for (const ir::Buffer &in : kernel.inputs) {
    inputs_.push_back({in->dtype, static_cast<uint32_t>(inputDims_.size()),
                       static_cast<uint32_t>(in->shape.size())});
    for (const ir::Expr &dim : in->shape) {
      if (const auto *lit = dim->as<ir::IntImm>()) {
        inputDims_.push_back({lit->value, -1, false});
      } else if (const auto *ref = dim->as<ir::VarRef>(); ref && slotOf(ref->var) >= 0) {
        int32_t slot = slotOf(ref->var);
        inputDims_.push_back({0, slot, !bound[static_cast<size_t>(slot)]});
        bound[static_cast<size_t>(slot)] = true;
      } else {
        fast_ = false; // Not a form sema produces; the general path reports it.
        inputDims_.push_back({0, -1, false});
      }
    }
  }
  if (std::find(bound.begin(), bound.end(), false) != bound.end())
    fast_ = false; // A symbol no input binds: the general path reports it.
  for (const ir::Expr &extent : ir::nonlinearExtents(kernel)) {
    extents_.emplace_back();
    fast_ &= compile(extent, symbols, extents_.back());
  }
  for (const ir::Buffer &out : kernel.outputs) {
    outputs_.push_back({out->dtype, static_cast<uint32_t>(outputDims_.size()),
                        static_cast<uint32_t>(out->shape.size())});
    for (const ir::Expr &dim : out->shape) {
      outputDims_.emplace_back();
      fast_ &= compile(dim, symbols, outputDims_.back());
    }
  }
}

bool CallPlan::compile(const ir::Expr &e, const std::vector<ir::Var> &symbols, Program &program) {
  program.firstOp = static_cast<uint32_t>(ops_.size());
  bool ok = compileOps(e, symbols, 1);
  program.numOps = static_cast<uint32_t>(ops_.size()) - program.firstOp;
  return ok;
}

bool CallPlan::compileOps(const ir::Expr &e, const std::vector<ir::Var> &symbols, size_t depth) {
  if (depth > kMaxStack || e->type != ir::Type::i64())
    return false;
  if (const auto *lit = e->as<ir::IntImm>()) {
    ops_.push_back({Op::Kind::Constant, {}, lit->value});
    return true;
  }
  if (const auto *ref = e->as<ir::VarRef>()) {
    auto it = std::find(symbols.begin(), symbols.end(), ref->var);
    ops_.push_back({Op::Kind::Symbol, {}, it - symbols.begin()});
    return it != symbols.end();
  }
  if (const auto *u = e->as<ir::Unary>()) {
    if (u->op != ir::UnaryOp::Neg || !compileOps(u->a, symbols, depth))
      return false;
    ops_.push_back({Op::Kind::Neg, {}, 0});
    return true;
  }
  // Other forms are not ones sema produces; the general path evaluates them.
  const auto *b = e->as<ir::Binary>();
  bool arithmetic = b && (b->op == ir::BinaryOp::Add || b->op == ir::BinaryOp::Sub ||
                          b->op == ir::BinaryOp::Mul || b->op == ir::BinaryOp::FloorDiv ||
                          b->op == ir::BinaryOp::Mod);
  if (!arithmetic || !compileOps(b->a, symbols, depth) || !compileOps(b->b, symbols, depth + 1))
    return false;
  ops_.push_back({Op::Kind::Binary, b->op, 0});
  return true;
}

bool CallPlan::eval(const Program &program, const int64_t *symbols, int64_t &value) const {
  int64_t stack[kMaxStack];
  size_t top = 0; // Entries in use.
  for (uint32_t k = 0; k < program.numOps; ++k) {
    const Op &op = ops_[program.firstOp + k];
    if (op.kind == Op::Kind::Constant || op.kind == Op::Kind::Symbol) {
      stack[top++] = op.kind == Op::Kind::Constant ? op.value : symbols[op.value];
      continue;
    }
    if (op.kind == Op::Kind::Neg) {
      if (__builtin_sub_overflow(int64_t(0), stack[top - 1], &stack[top - 1]))
        return false;
      continue;
    }
    int64_t &a = stack[top - 2], b = stack[top - 1];
    --top;
    bool overflow = false;
    switch (op.op) {
    case ir::BinaryOp::Add:
      overflow = __builtin_add_overflow(a, b, &a);
      break;
    case ir::BinaryOp::Sub:
      overflow = __builtin_sub_overflow(a, b, &a);
      break;
    case ir::BinaryOp::Mul:
      overflow = __builtin_mul_overflow(a, b, &a);
      break;
    case ir::BinaryOp::FloorDiv:
      overflow = a == std::numeric_limits<int64_t>::min() && b == -1;
      a = ir::floorDiv(a, b);
      break;
    default: // Mod, the only other operator compileOps emits.
      a = ir::floorMod(a, b);
      break;
    }
    if (overflow)
      return false;
  }
  value = stack[0];
  return true;
}

bool CallPlan::bindInputs(const std::vector<Tensor> &inputs, int64_t *symbols) const {
  if (inputs.size() != inputs_.size())
    return false;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Param &param = inputs_[i];
    const Tensor &t = inputs[i];
    const std::vector<int64_t> &shape = t.shape();
    if (t.dtype() != param.dtype || shape.size() != param.rank || !t.isContiguous())
      return false;
    for (uint32_t d = 0; d < param.rank; ++d) {
      const InputDim &dim = inputDims_[param.firstDim + d];
      int64_t value = shape[d];
      if (value < 0)
        return false;
      if (dim.symbol < 0) {
        if (value != dim.literal)
          return false;
      } else if (dim.binds) {
        symbols[dim.symbol] = value;
      } else if (symbols[dim.symbol] != value) {
        return false;
      }
    }
  }
  int64_t ignored;
  for (const Program &extent : extents_)
    if (!eval(extent, symbols, ignored))
      return false;
  return true;
}

int64_t CallPlan::evalDim(uint32_t d, const int64_t *symbols) const {
  int64_t value;
  return eval(outputDims_[d], symbols, value) ? value : -1;
}

bool CallPlan::outputShape(size_t o, const int64_t *symbols, int64_t *shape) const {
  const Param &param = outputs_[o];
  for (uint32_t d = 0; d < param.rank; ++d) {
    shape[d] = evalDim(param.firstDim + d, symbols);
    if (shape[d] < 0)
      return false;
  }
  return true;
}

bool CallPlan::checkOutputs(const std::vector<Tensor> &outputs, const int64_t *symbols) const {
  if (outputs.size() != outputs_.size())
    return false;
  for (size_t o = 0; o < outputs.size(); ++o) {
    const Param &param = outputs_[o];
    const Tensor &t = outputs[o];
    const std::vector<int64_t> &shape = t.shape();
    if (t.dtype() != param.dtype || shape.size() != param.rank || !t.isContiguous() || t.readOnly())
      return false;
    for (uint32_t d = 0; d < param.rank; ++d) {
      int64_t want = evalDim(param.firstDim + d, symbols);
      if (want < 0 || shape[d] != want)
        return false;
    }
  }
  return true;
}

bool outputsOverlap(const std::vector<Tensor> &inputs, const std::vector<Tensor> &outputs) {
  for (size_t i = 0; i < outputs.size(); ++i) {
    const char *a = static_cast<const char *>(outputs[i].data());
    size_t aBytes = outputs[i].nbytes();
    if (aBytes == 0)
      continue;
    auto overlaps = [&](const Tensor &other) {
      const char *b = static_cast<const char *>(other.data());
      size_t bBytes = other.nbytes();
      return bBytes && a < b + bBytes && b < a + aBytes;
    };
    for (const Tensor &in : inputs)
      if (overlaps(in))
        return true;
    for (size_t j = 0; j < outputs.size(); ++j)
      if (j != i && overlaps(outputs[j]))
        return true;
  }
  return false;
}

} // namespace tdsl::detail

namespace tdsl::detail {

bool elementsDistinct(const Tensor &t) {
  if (t.isContiguous() || t.numel() == 0)
    return true;
  // Dims by increasing |stride|: the elements are distinct when each stride steps past all
  // that the smaller ones reach (a sufficient condition, the one NumPy's checks use too).
  const std::vector<int64_t> &shape = t.shape();
  const std::vector<int64_t> strides = t.strides();
  std::vector<size_t> order;
  for (size_t d = 0; d < shape.size(); ++d)
    if (shape[d] > 1)
      order.push_back(d);
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return std::abs(strides[a]) < std::abs(strides[b]); });
  int64_t reach = 0; // The farthest two elements are apart, in elements; bounded by view().
  for (size_t d : order) {
    if (std::abs(strides[d]) <= reach)
      return false;
    reach += std::abs(strides[d]) * (shape[d] - 1);
  }
  return true;
}

std::vector<std::string> layoutCopies(const ir::Kernel &kernel, const std::vector<Tensor> &inputs,
                                      const std::vector<Tensor> &outputs) {
  auto describe = [](const std::string &role, const ir::Buffer &param, const Tensor &t) {
    std::string strides;
    for (int64_t s : t.strides())
      strides += (strides.empty() ? "" : ", ") + std::to_string(s);
    return role + " " + param->name + ": " + t.typeString() + " with strides [" + strides +
           "] is not contiguous: ";
  };
  std::vector<std::string> lines;
  for (size_t i = 0; i < inputs.size() && i < kernel.inputs.size(); ++i)
    if (!inputs[i].isContiguous())
      lines.push_back(describe("input", kernel.inputs[i], inputs[i]) +
                      "copied into a dense buffer before each call (" +
                      std::to_string(inputs[i].nbytes()) + " bytes)");
  for (size_t o = 0; o < outputs.size() && o < kernel.outputs.size(); ++o)
    if (!outputs[o].isContiguous())
      lines.push_back(describe("output", kernel.outputs[o], outputs[o]) +
                      "computed into a dense buffer and copied out after each call (" +
                      std::to_string(outputs[o].nbytes()) + " bytes)");
  return lines;
}

} // namespace tdsl::detail
