// The fast path of a kernel call. Everything a call must check and compute from its tensors
// (dtypes, ranks, literal dims, shape symbols, output shapes) is planned once per kernel, so that
// a call on tiny tensors costs tens of nanoseconds and allocates nothing. The plan only says
// yes or no: on any mismatch the caller takes the general path (ir::bindSymbols, ir::evalShape),
// which builds the detailed error message.
#pragma once

#include "ir/Kernel.h"
#include "tdsl/Tensor.h"

#include <cstdint>
#include <string>
#include <vector>

namespace tdsl::detail {

class CallPlan {
public:
  /// Fixed capacities of the stack arrays a fast call uses.
  static constexpr size_t kMaxSymbols = 16;
  static constexpr size_t kMaxBuffers = 32;

  CallPlan() : fast_(false) {}
  explicit CallPlan(const ir::Kernel &kernel);

  /// Whether the fast path applies to this kernel: at most kMaxSymbols symbols and kMaxBuffers
  /// parameters, every input dim a literal or a symbol, every output dim (and every extent that
  /// is not linear, which calls check for overflow) a shape expression of at most kMaxStack
  /// levels.
  bool fast() const { return fast_; }
  size_t numInputs() const { return inputs_.size(); }
  size_t numOutputs() const { return outputs_.size(); }

  /// Checks the inputs' count, dtypes, shapes and contiguity and binds the symbols into `symbols`
  /// (kMaxSymbols slots); false on any mismatch, or when an extent overflows. Requires fast().
  bool bindInputs(const std::vector<Tensor> &inputs, int64_t *symbols) const;
  /// Output `o`'s shape for these symbols into `shape` (its rank is `outputRank(o)`); false if a
  /// dim comes out negative or overflows.
  bool outputShape(size_t o, const int64_t *symbols, int64_t *shape) const;
  size_t outputRank(size_t o) const { return outputs_[o].rank; }
  DType outputDType(size_t o) const { return outputs_[o].dtype; }
  /// Whether `outputs` have the count, dtypes and shapes these symbols give, and are
  /// contiguous and writable.
  bool checkOutputs(const std::vector<Tensor> &outputs, const int64_t *symbols) const;

private:
  struct InputDim {
    int64_t literal; // When symbol < 0.
    int32_t symbol;  // Slot, or -1 for a literal.
    bool binds;      // The symbol's first appearance: sets the slot rather than checking it.
  };
  /// A shape expression as a little stack program over the symbols' slots.
  struct Op {
    enum class Kind : uint8_t { Constant, Symbol, Neg, Binary };
    Kind kind;
    ir::BinaryOp op; // Binary: Add, Sub, Mul, FloorDiv or Mod.
    int64_t value;   // Constant: the value; Symbol: the slot.
  };
  struct Program {
    uint32_t firstOp, numOps;
  };
  struct Param {
    DType dtype;
    uint32_t firstDim, rank;
  };
  /// The stack a program may need; deeper expressions take the general path.
  static constexpr size_t kMaxStack = 8;

  /// Appends `e`'s program; false when `e` is not a form the plan evaluates.
  bool compile(const ir::Expr &e, const std::vector<ir::Var> &symbols, Program &program);
  bool compileOps(const ir::Expr &e, const std::vector<ir::Var> &symbols, size_t depth);
  /// `program`'s exact value; false where i64 arithmetic overflows (as ir::bindSymbols refuses).
  bool eval(const Program &program, const int64_t *symbols, int64_t &value) const;
  /// Output dim `d`'s value, or -1 (refused) where it overflows.
  int64_t evalDim(uint32_t d, const int64_t *symbols) const;

  bool fast_ = true;
  std::vector<Param> inputs_, outputs_;
  std::vector<InputDim> inputDims_;
  std::vector<Program> outputDims_;
  /// Extents of definitions and reductions that are not linear: checked not to overflow.
  std::vector<Program> extents_;
  std::vector<Op> ops_;
};

/// Whether no two elements of `t` share an address (false for a broadcast view, a zero stride
/// on a dim of extent > 1): what an output must satisfy.
bool elementsDistinct(const Tensor &t);

/// One line per tensor of a call that is not contiguous, saying how the call handles it (an
/// input copied into a dense buffer before the code runs, an output computed into one and copied
/// out), with the bytes: Kernel::explainCall and Profile::layoutCopies.
std::vector<std::string> layoutCopies(const ir::Kernel &kernel, const std::vector<Tensor> &inputs,
                                      const std::vector<Tensor> &outputs);

/// Whether an output overlaps an input or another output (an in-place call), which the compiled
/// code (noalias buffers) must not see.
bool outputsOverlap(const std::vector<Tensor> &inputs, const std::vector<Tensor> &outputs);

} // namespace tdsl::detail
