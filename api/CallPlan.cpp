// Planning and checking a kernel call without allocating (see CallPlan.h). The checks mirror
// ir::bindSymbols and ir::evalShape exactly: what the plan accepts, they accept with the same
// symbol values and shapes.
#include "api/CallPlan.h"

#include "ir/Affine.h"

#include <algorithm>

namespace tdsl::detail {

CallPlan::CallPlan(const ir::Kernel &kernel) {
  const std::vector<ir::Var> &symbols = kernel.symbols;
  if (symbols.size() > kMaxSymbols || kernel.inputs.size() + kernel.outputs.size() > kMaxBuffers)
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

  for (const ir::Buffer &out : kernel.outputs) {
    outputs_.push_back({out->dtype, static_cast<uint32_t>(outputDims_.size()),
                        static_cast<uint32_t>(out->shape.size())});
    for (const ir::Expr &dim : out->shape) {
      OutputDim planned{0, static_cast<uint32_t>(terms_.size()), 0};
      std::optional<ir::AffineExpr> affine = ir::toAffine(dim);
      if (!affine || !affine->isLinear()) {
        fast_ = false; // `H // 2`, `H * W`: the general path evaluates them.
      } else {
        planned.constant = affine->constant;
        for (const auto &[atom, coefficient] : affine->terms) {
          int32_t slot = slotOf(atom.var());
          if (slot < 0)
            fast_ = false;
          terms_.push_back({slot, coefficient});
          ++planned.numTerms;
        }
      }
      outputDims_.push_back(planned);
    }
  }
}

bool CallPlan::bindInputs(const std::vector<Tensor> &inputs, int64_t *symbols) const {
  if (inputs.size() != inputs_.size())
    return false;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Param &param = inputs_[i];
    const Tensor &t = inputs[i];
    const std::vector<int64_t> &shape = t.shape();
    if (t.dtype() != param.dtype || shape.size() != param.rank)
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
  return true;
}

int64_t CallPlan::evalDim(const OutputDim &dim, const int64_t *symbols) const {
  // Two's complement wrapping, like evalInt's i64 arithmetic (the affine form is exact mod 2^64).
  uint64_t value = static_cast<uint64_t>(dim.constant);
  for (uint32_t k = 0; k < dim.numTerms; ++k) {
    const Term &term = terms_[dim.firstTerm + k];
    value += static_cast<uint64_t>(term.coefficient) * static_cast<uint64_t>(symbols[term.symbol]);
  }
  return static_cast<int64_t>(value);
}

bool CallPlan::outputShape(size_t o, const int64_t *symbols, int64_t *shape) const {
  const Param &param = outputs_[o];
  for (uint32_t d = 0; d < param.rank; ++d) {
    shape[d] = evalDim(outputDims_[param.firstDim + d], symbols);
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
    const std::vector<int64_t> &shape = outputs[o].shape();
    if (outputs[o].dtype() != param.dtype || shape.size() != param.rank)
      return false;
    for (uint32_t d = 0; d < param.rank; ++d) {
      int64_t want = evalDim(outputDims_[param.firstDim + d], symbols);
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
