// The reference interpreter: the oracle every compiled path is compared with.
//
// Each expression is first translated into a small tree of `Node`s with resolved variable slots
// and buffer ids, so evaluation does no lookups and no allocation; then each Definition runs as
// a naive loop nest over its domain, evaluating nested reductions afresh at every point.
//
// Values: floats of every dtype are held as f64; arithmetic inside an expression is f64, and a
// value is rounded to its tensor's dtype when a definition stores it (an f32 tensor holds f32
// values, as the language says; f16/bf16 stores are already rounded by their explicit Cast).
// Integers are exact int64, wrapped to 32 bits after every i32 operation; bools are 0 or 1.
//
// Narrowing float casts round once, directly from the f64 value to the target format (nearest
// even, overflow to inf): `roundToFormat` scales by a power of two, rounds to an integer and
// scales back, all exact steps, so there is no double rounding through f32.
#include "ir/Interpreter.h"

#include "ir/IRPrinter.h"
#include "ir/IntArith.h"
#include "ir/Shapes.h"
#include "ir/Verifier.h"
#include "runtime/FloatFormat.h"
#include "support/Check.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
#include <unordered_map>

namespace tdsl::ir {

namespace {

union Value {
  double f;
  int64_t i;
};

Value fromFloat(double f) {
  Value v;
  v.f = f;
  return v;
}
Value fromInt(int64_t i) {
  Value v;
  v.i = i;
  return v;
}

// ---------------------------------------------------------------------------------------------
// Scalar semantics (the list in the project notes, applied to f64 and int64 values).

/// Rounds `x` to the nearest value (ties to even) of a binary format with `precision`
/// significand bits and smallest normal exponent `minExp`; beyond `maxFinite` gives inf.
double roundToFormat(double x, int precision, int minExp, double maxFinite) {
  if (!std::isfinite(x) || x == 0)
    return x;
  int e = 0;
  std::frexp(x, &e); // |x| = m * 2^e with m in [0.5, 1): the leading bit has exponent e - 1.
  int quantum = std::max(e - 1, minExp) - (precision - 1);
  double r = std::ldexp(std::nearbyint(std::ldexp(x, -quantum)), quantum);
  if (std::fabs(r) > maxFinite)
    return std::copysign(std::numeric_limits<double>::infinity(), x);
  return r;
}

double roundTo(DType t, double x) {
  switch (t) {
  case DType::F16:
    return roundToFormat(x, 11, -14, 65504.0);
  case DType::BF16:
    return roundToFormat(x, 8, -126, 0x1.FEp127);
  case DType::F32:
    return roundToFormat(x, 24, -126, FLT_MAX);
  default:
    return x;
  }
}

/// An integer converted to float type `t`, rounded once.
double intToFloat(int64_t i, DType t) {
  if (t == DType::F64)
    return static_cast<double>(i);
  if (t == DType::F32)
    return static_cast<double>(static_cast<float>(i));
  constexpr int64_t exact = int64_t(1) << 53;
  if (i >= -exact && i <= exact)
    return roundTo(t, static_cast<double>(i));
  if (t == DType::F16)
    return i < 0 ? -HUGE_VAL : HUGE_VAL;
  // bf16 of a huge integer: round the magnitude to 8 significant bits in integer arithmetic.
  uint64_t mag = i < 0 ? 0 - static_cast<uint64_t>(i) : static_cast<uint64_t>(i);
  int shift = (64 - __builtin_clzll(mag)) - 8;
  uint64_t keep = mag >> shift, rest = mag & ((uint64_t(1) << shift) - 1);
  uint64_t half = uint64_t(1) << (shift - 1);
  if (rest > half || (rest == half && (keep & 1)))
    ++keep;
  double r = std::ldexp(static_cast<double>(keep), shift);
  return i < 0 ? -r : r;
}

Value castValue(DType from, DType to, Value v) {
  if (isFloat(from)) {
    if (isFloat(to)) {
      // Widening (or same type) keeps the f64 value; narrowing rounds once.
      bool widening = to == from || to == DType::F64 ||
                      (to == DType::F32 && (from == DType::F16 || from == DType::BF16));
      return widening ? v : fromFloat(roundTo(to, v.f));
    }
    if (to == DType::Bool)
      return fromInt(v.f != 0);
    return fromInt(runtime::doubleToIntSaturating(v.f, to));
  }
  if (isFloat(to))
    return fromFloat(intToFloat(v.i, to));
  return fromInt(wrapInt(to, static_cast<uint64_t>(v.i)));
}

/// IEEE 754-2019 maximum / minimum: NaN propagates and -0.0 < +0.0.
double maxProp(double a, double b) {
  if (std::isnan(a) || std::isnan(b))
    return a + b;
  if (a == b)
    return std::signbit(a) ? b : a;
  return a > b ? a : b;
}
double minProp(double a, double b) {
  if (std::isnan(a) || std::isnan(b))
    return a + b;
  if (a == b)
    return std::signbit(a) ? a : b;
  return a < b ? a : b;
}

int64_t powInt(int64_t base, int64_t exp, DType t) {
  if (exp < 0) {
    if (base == 1)
      return 1;
    if (base == -1)
      return (exp & 1) ? -1 : 1;
    return 0;
  }
  uint64_t result = 1, b = static_cast<uint64_t>(base);
  for (uint64_t e = static_cast<uint64_t>(exp); e; e >>= 1) {
    if (e & 1)
      result *= b;
    b *= b;
  }
  return wrapInt(t, result);
}

double floatBinary(BinaryOp op, double a, double b) {
  switch (op) {
  case BinaryOp::Add:
    return a + b;
  case BinaryOp::Sub:
    return a - b;
  case BinaryOp::Mul:
    return a * b;
  case BinaryOp::Div:
    return a / b;
  case BinaryOp::FloorDiv:
    return std::floor(a / b);
  case BinaryOp::Mod: {
    double r = std::fmod(a, b);
    if (r != 0 && ((r < 0) != (b < 0)))
      r += b;
    return r;
  }
  case BinaryOp::Pow:
    return std::pow(a, b);
  case BinaryOp::Min:
    return minProp(a, b);
  case BinaryOp::Max:
    return maxProp(a, b);
  default:
    break;
  }
  TDSL_UNREACHABLE("float operator");
}

bool compare(BinaryOp op, auto a, auto b) {
  switch (op) {
  case BinaryOp::Eq:
    return a == b;
  case BinaryOp::Ne:
    return a != b;
  case BinaryOp::Lt:
    return a < b;
  case BinaryOp::Le:
    return a <= b;
  case BinaryOp::Gt:
    return a > b;
  case BinaryOp::Ge:
    return a >= b;
  default:
    break;
  }
  TDSL_UNREACHABLE("comparison operator");
}

int64_t intBinary(BinaryOp op, int64_t a, int64_t b, DType t) {
  uint64_t ua = static_cast<uint64_t>(a), ub = static_cast<uint64_t>(b);
  switch (op) {
  case BinaryOp::Add:
    return wrapInt(t, ua + ub);
  case BinaryOp::Sub:
    return wrapInt(t, ua - ub);
  case BinaryOp::Mul:
    return wrapInt(t, ua * ub);
  case BinaryOp::FloorDiv:
    return wrapInt(t, static_cast<uint64_t>(floorDiv(a, b)));
  case BinaryOp::Mod:
    return floorMod(a, b);
  case BinaryOp::Pow:
    return powInt(a, b, t);
  case BinaryOp::Min:
    return std::min(a, b);
  case BinaryOp::Max:
    return std::max(a, b);
  case BinaryOp::And:
    return a && b;
  case BinaryOp::Or:
    return a || b;
  default:
    break;
  }
  TDSL_UNREACHABLE("integer operator");
}

double floatCall(Intrinsic fn, double x) {
  switch (fn) {
  case Intrinsic::Exp:
    return std::exp(x);
  case Intrinsic::Exp2:
    return std::exp2(x);
  case Intrinsic::Log:
    return std::log(x);
  case Intrinsic::Log2:
    return std::log2(x);
  case Intrinsic::Sqrt:
    return std::sqrt(x);
  case Intrinsic::Rsqrt:
    return 1.0 / std::sqrt(x);
  case Intrinsic::Sin:
    return std::sin(x);
  case Intrinsic::Cos:
    return std::cos(x);
  case Intrinsic::Tan:
    return std::tan(x);
  case Intrinsic::Tanh:
    return std::tanh(x);
  case Intrinsic::Sigmoid:
    return 1.0 / (1.0 + std::exp(-x));
  case Intrinsic::Relu:
    return maxProp(x, 0.0);
  case Intrinsic::Abs:
    return std::fabs(x);
  case Intrinsic::Floor:
    return std::floor(x);
  case Intrinsic::Ceil:
    return std::ceil(x);
  case Intrinsic::Round:
    return std::nearbyint(x); // Half to even in the default rounding mode.
  case Intrinsic::Erf:
    return std::erf(x);
  }
  TDSL_UNREACHABLE("intrinsic");
}

/// Whether math libraries compute `fn` within some ulps rather than correctly rounded.
bool isApproximated(Intrinsic fn) {
  switch (fn) {
  case Intrinsic::Exp:
  case Intrinsic::Exp2:
  case Intrinsic::Log:
  case Intrinsic::Log2:
  case Intrinsic::Rsqrt:
  case Intrinsic::Sin:
  case Intrinsic::Cos:
  case Intrinsic::Tan:
  case Intrinsic::Tanh:
  case Intrinsic::Sigmoid:
  case Intrinsic::Erf:
    return true;
  case Intrinsic::Sqrt:
  case Intrinsic::Relu:
  case Intrinsic::Abs:
  case Intrinsic::Floor:
  case Intrinsic::Ceil:
  case Intrinsic::Round:
    return false;
  }
  TDSL_UNREACHABLE("intrinsic");
}

/// The f32 value `ulps` steps of f32 above `x` (below when negative).
double movedF32(double x, int ulps) {
  float f = static_cast<float>(x);
  float toward =
      ulps > 0 ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity();
  for (int step = 0; step < std::abs(ulps); ++step)
    f = std::nextafter(f, toward);
  return f;
}

// ---------------------------------------------------------------------------------------------
// The evaluator. The hot paths read plain arrays through raw pointers, which keeps the oracle
// usable in unoptimized (Debug) builds, where every std::vector access is a call.

/// A buffer's elements and layout; every buffer is allocated before evaluation starts.
struct Storage {
  std::string name;
  std::vector<int64_t> dims, strides;
  std::vector<Value> data;
};

/// An expression with variables resolved to environment slots and tensors to storage.
struct Node {
  ExprKind kind;
  uint8_t op = 0;
  DType dtype = DType::F32;                            // Result.
  DType from = DType::F32;                             // Operand (Unary, Binary, Cast).
  Value imm = fromInt(0);                              // IntImm, FloatImm.
  int slot = -1;                                       // VarRef.
  const Node *a = nullptr, *b = nullptr, *c = nullptr; // Operands in order; a Reduce's body.

  // Access: the storage, each index as a node and, when every index is affine in variables,
  // as `affineConst[k] + sum(coefficient * env[slot])` over terms [termBegin[k], termBegin[k+1]).
  Storage *storage = nullptr;
  std::vector<const Node *> indices;
  const Node *fallback = nullptr;
  bool affine = false;
  std::vector<uint64_t> affineConst;
  std::vector<int> termBegin, termSlot;
  std::vector<uint64_t> termCoefficient;

  // Reduce: its axes' slots and extents; `extentValues` is scratch for one evaluation (a node
  // is never nested inside itself, so one buffer per node suffices).
  std::vector<int> axisSlots;
  std::vector<const Node *> extents;
  mutable std::vector<int64_t> extentValues;

  Expr source; // For error messages.
};

class Interpreter {
public:
  Interpreter(const Kernel &k, bool roundF32, int mathFunctionUlps)
      : kernel(k), roundF32(roundF32), mathFunctionUlps(mathFunctionUlps) {}

  std::vector<Tensor> run(const std::vector<Tensor> &inputs) {
    verify(kernel);
    if (inputs.size() != kernel.inputs.size())
      throw RuntimeError(ErrorCode::TensorMismatch, "kernel " + kernel.name + " takes " +
                                                        std::to_string(kernel.inputs.size()) +
                                                        " inputs, got " +
                                                        std::to_string(inputs.size()));
    std::vector<std::vector<int64_t>> shapes;
    for (const Tensor &t : inputs)
      shapes.push_back(t.shape());
    std::vector<int64_t> symbolValues = bindSymbols(kernel, shapes);
    for (size_t p = 0; p < kernel.inputs.size(); ++p)
      if (inputs[p].dtype() != kernel.inputs[p]->dtype)
        throw RuntimeError(ErrorCode::TensorMismatch,
                           "input " + kernel.inputs[p]->name + ": expected " +
                               std::string(dtypeName(kernel.inputs[p]->dtype)) + " data, got " +
                               inputs[p].typeString());

    // Every buffer first (Node keeps pointers into `buffers`), then the translation.
    for (const Buffer &b : kernel.inputs)
      addBuffer(b, evalShape(b, kernel.symbols, symbolValues));
    for (const Buffer &b : kernel.outputs)
      addBuffer(b, evalShape(b, kernel.symbols, symbolValues));
    for (const Definition &d : kernel.defs)
      if (!bufferIds.count(d.target.get()))
        addBuffer(d.target, evalShape(d.target, kernel.symbols, symbolValues));
    for (size_t p = 0; p < kernel.inputs.size(); ++p) {
      Storage &st = buffers[p];
      const Tensor &t = inputs[p];
      bool isF = isFloat(kernel.inputs[p]->dtype);
      for (int64_t i = 0; i < static_cast<int64_t>(st.data.size()); ++i)
        st.data[i] = isF ? fromFloat(t.at(i)) : fromInt(t.atInt(i));
    }

    for (const Var &s : kernel.symbols)
      slotOf(s);
    std::vector<const Node *> roots;
    for (const Definition &d : kernel.defs) {
      for (const IterVar &iv : d.indices)
        slotOf(iv.var);
      roots.push_back(compile(d.value));
    }
    env.assign(slots.size(), fromInt(0));
    envp = env.data();
    for (size_t s = 0; s < kernel.symbols.size(); ++s)
      env[slots.at(kernel.symbols[s].get())] = fromInt(symbolValues[s]);

    for (size_t i = 0; i < kernel.defs.size(); ++i)
      runDefinition(kernel.defs[i], roots[i]);
    std::vector<int64_t> found;
    for (const GatherCheck &c : kernel.checks)
      found.push_back(buffers[bufferIds.at(c.result.get())].data[0].i);
    throwIfGatherFailed(kernel, symbolValues, found.data());

    std::vector<Tensor> results;
    for (const Buffer &b : kernel.outputs) {
      const Storage &st = buffers[bufferIds.at(b.get())];
      bool isF = isFloat(b->dtype);
      Tensor t = Tensor::zeros(st.dims, isF ? DType::F64 : b->dtype);
      for (int64_t i = 0; i < static_cast<int64_t>(st.data.size()); ++i) {
        if (isF)
          t.set(i, st.data[i].f);
        else
          t.setInt(i, st.data[i].i);
      }
      results.push_back(std::move(t));
    }
    return results;
  }

private:
  int slotOf(const Var &v) {
    auto [it, inserted] = slots.emplace(v.get(), static_cast<int>(slots.size()));
    return it->second;
  }

  void addBuffer(const Buffer &b, std::vector<int64_t> dims) {
    // An intermediate's extent may come out negative (`t[i < N - 1]` with N = 0): it is empty.
    for (int64_t &d : dims)
      d = std::max<int64_t>(d, 0);
    bufferIds.emplace(b.get(), static_cast<int>(buffers.size()));
    Storage &st = buffers.emplace_back();
    st.name = b->name;
    st.strides.assign(dims.size(), 1);
    int64_t n = 1;
    for (size_t k = dims.size(); k-- > 0;) {
      st.strides[k] = n;
      n *= dims[k];
    }
    st.dims = std::move(dims);
    st.data.assign(static_cast<size_t>(n), fromInt(0));
  }

  /// Adds `scale * e` to the affine form under construction, when `e` is affine.
  bool toAffine(const Expr &e, Node &n, uint64_t scale) {
    if (const IntImm *c = e->as<IntImm>()) {
      n.affineConst.back() += scale * static_cast<uint64_t>(c->value);
      return true;
    }
    if (const VarRef *v = e->as<VarRef>()) {
      auto it = slots.find(v->var.get());
      if (it == slots.end())
        return false;
      n.termSlot.push_back(it->second);
      n.termCoefficient.push_back(scale);
      return true;
    }
    if (const Unary *u = e->as<Unary>())
      return u->op == UnaryOp::Neg && toAffine(u->a, n, 0 - scale);
    if (const Binary *b = e->as<Binary>()) {
      if (b->op == BinaryOp::Add)
        return toAffine(b->a, n, scale) && toAffine(b->b, n, scale);
      if (b->op == BinaryOp::Sub)
        return toAffine(b->a, n, scale) && toAffine(b->b, n, 0 - scale);
      if (b->op == BinaryOp::Mul) {
        if (const IntImm *c = b->b->as<IntImm>())
          return toAffine(b->a, n, scale * static_cast<uint64_t>(c->value));
        if (const IntImm *c = b->a->as<IntImm>())
          return toAffine(b->b, n, scale * static_cast<uint64_t>(c->value));
      }
    }
    return false;
  }

  const Node *compile(const Expr &e) {
    auto memo = compiled.find(e.get());
    if (memo != compiled.end())
      return memo->second;
    auto node = std::make_unique<Node>();
    Node &n = *node;
    n.kind = e->kind;
    n.dtype = e->type.dtype;
    n.source = e;
    switch (e->kind) {
    case ExprKind::IntImm:
      n.imm = fromInt(wrapInt(n.dtype, static_cast<uint64_t>(e->as<IntImm>()->value)));
      break;
    case ExprKind::FloatImm:
      n.imm = fromFloat(rounded(e->type.dtype, e->as<FloatImm>()->value));
      break;
    case ExprKind::VarRef: {
      auto it = slots.find(e->as<VarRef>()->var.get());
      TDSL_CHECK(it != slots.end()) << "interpreter: unbound variable in " << toString(e);
      n.slot = it->second;
      break;
    }
    case ExprKind::Unary:
      n.op = static_cast<uint8_t>(e->as<Unary>()->op);
      n.from = e->as<Unary>()->a->type.dtype;
      n.a = compile(e->as<Unary>()->a);
      break;
    case ExprKind::Binary:
      n.op = static_cast<uint8_t>(e->as<Binary>()->op);
      n.from = e->as<Binary>()->a->type.dtype;
      n.a = compile(e->as<Binary>()->a);
      n.b = compile(e->as<Binary>()->b);
      break;
    case ExprKind::Call:
      n.op = static_cast<uint8_t>(e->as<Call>()->fn);
      n.a = compile(e->as<Call>()->args[0]);
      break;
    case ExprKind::Select:
      n.a = compile(e->as<Select>()->cond);
      n.b = compile(e->as<Select>()->a);
      n.c = compile(e->as<Select>()->b);
      break;
    case ExprKind::Cast:
      n.from = e->as<Cast>()->a->type.dtype;
      n.a = compile(e->as<Cast>()->a);
      break;
    case ExprKind::Access: {
      const Access *a = e->as<Access>();
      auto it = bufferIds.find(a->buffer.get());
      TDSL_CHECK(it != bufferIds.end()) << "interpreter: unknown tensor in " << toString(e);
      n.storage = &buffers[it->second];
      for (const Expr &i : a->indices)
        n.indices.push_back(compile(i));
      if (a->fallback)
        n.fallback = compile(a->fallback);
      n.affine = true;
      for (const Expr &i : a->indices) {
        n.termBegin.push_back(static_cast<int>(n.termSlot.size()));
        n.affineConst.push_back(0);
        n.affine = n.affine && toAffine(i, n, 1);
      }
      n.termBegin.push_back(static_cast<int>(n.termSlot.size()));
      break;
    }
    case ExprKind::Reduce: {
      const Reduce *r = e->as<Reduce>();
      n.op = static_cast<uint8_t>(r->op);
      for (const IterVar &iv : r->axes) {
        n.extents.push_back(compile(iv.extent));
        n.axisSlots.push_back(slotOf(iv.var));
      }
      n.extentValues.resize(r->axes.size());
      n.a = compile(r->body);
      break;
    }
    default:
      TDSL_UNREACHABLE(("interpreter: loop-level node " + toString(e)).c_str());
    }
    const Node *result = node.get();
    pool.push_back(std::move(node));
    compiled.emplace(e.get(), result);
    return result;
  }

  void runDefinition(const Definition &d, const Node *root) {
    Storage &st = buffers[bufferIds.at(d.target.get())];
    size_t rank = d.indices.size();
    std::vector<int> idxSlots;
    for (size_t k = 0; k < rank; ++k) {
      idxSlots.push_back(slots.at(d.indices[k].var.get()));
      envp[idxSlots[k]] = fromInt(0);
    }
    // The domain is the target's shape, so row-major order visits flat indices 0, 1, 2, ...
    int64_t total = static_cast<int64_t>(st.data.size());
    Value *out = st.data.data();
    const int64_t *dims = st.dims.data();
    const int *slot = idxSlots.data();
    bool roundToF32 = d.target->dtype == DType::F32;
    for (int64_t flat = 0; flat < total; ++flat) {
      out[flat] = eval(root);
      if (roundToF32)
        out[flat].f = roundTo(DType::F32, out[flat].f);
      for (size_t k = rank; k-- > 0;) {
        if (++envp[slot[k]].i < dims[k])
          break;
        envp[slot[k]].i = 0;
      }
    }
  }

  Value eval(const Node *n) {
    switch (n->kind) {
    case ExprKind::IntImm:
    case ExprKind::FloatImm:
      return n->imm;
    case ExprKind::VarRef:
      return envp[n->slot];
    case ExprKind::Unary: {
      Value a = eval(n->a);
      if (static_cast<UnaryOp>(n->op) == UnaryOp::Not)
        return fromInt(a.i == 0);
      if (isFloat(n->dtype))
        return fromFloat(-a.f);
      return fromInt(wrapInt(n->dtype, 0 - static_cast<uint64_t>(a.i)));
    }
    case ExprKind::Binary: {
      BinaryOp op = static_cast<BinaryOp>(n->op);
      Value a = eval(n->a), b = eval(n->b);
      if (isFloat(n->from))
        return isComparison(op) ? fromInt(compare(op, a.f, b.f))
                                : fromFloat(rounded(n->dtype, floatBinary(op, a.f, b.f)));
      return isComparison(op) ? fromInt(compare(op, a.i, b.i))
                              : fromInt(intBinary(op, a.i, b.i, n->dtype));
    }
    case ExprKind::Call: {
      Value a = eval(n->a);
      Intrinsic fn = static_cast<Intrinsic>(n->op);
      if (isFloat(n->dtype)) {
        double result = rounded(n->dtype, floatCall(fn, a.f));
        if (roundF32 && mathFunctionUlps && n->dtype == DType::F32 && isApproximated(fn))
          result = movedF32(result, mathFunctionUlps);
        return fromFloat(result);
      }
      if (fn == Intrinsic::Abs)
        return fromInt(wrapInt(n->dtype, a.i < 0 ? 0 - static_cast<uint64_t>(a.i)
                                                 : static_cast<uint64_t>(a.i)));
      return fromInt(a.i > 0 ? a.i : 0); // Relu.
    }
    case ExprKind::Select:
      return eval(n->a).i ? eval(n->b) : eval(n->c);
    case ExprKind::Cast:
      return castValue(n->from, n->dtype, eval(n->a));
    case ExprKind::Access:
      return evalAccess(n);
    case ExprKind::Reduce:
      return evalReduce(n);
    default:
      TDSL_UNREACHABLE("interpreter: unexpected node");
    }
  }

  Value evalAccess(const Node *n) {
    const Storage &st = *n->storage;
    const int64_t *dims = st.dims.data(), *strides = st.strides.data();
    size_t rank = st.dims.size();
    const uint64_t *constant = n->affineConst.data(), *coefficient = n->termCoefficient.data();
    const int *begin = n->termBegin.data(), *slot = n->termSlot.data();
    const Node *const *index = n->indices.data();
    int64_t flat = 0;
    for (size_t k = 0; k < rank; ++k) {
      int64_t i;
      if (n->affine) {
        uint64_t u = constant[k];
        for (int t = begin[k]; t < begin[k + 1]; ++t)
          u += coefficient[t] * static_cast<uint64_t>(envp[slot[t]].i);
        i = static_cast<int64_t>(u);
      } else {
        i = eval(index[k]).i;
      }
      if (i < 0 || i >= dims[k]) {
        if (n->fallback)
          return eval(n->fallback);
        TDSL_UNREACHABLE(("interpreter: " + toString(n->source) + " reads index " +
                          std::to_string(i) + " of dim " + std::to_string(k) + " (size " +
                          std::to_string(dims[k]) + ") of " + st.name + ", and it has no fallback")
                             .c_str());
      }
      flat += i * strides[k];
    }
    return st.data.data()[flat];
  }

  Value evalReduce(const Node *n) {
    ReduceOp op = static_cast<ReduceOp>(n->op);
    if (isArgReduction(op))
      return evalArgReduce(n, op == ReduceOp::ArgMax);
    DType t = n->dtype;
    size_t rank = n->axisSlots.size();
    int64_t *extent = n->extentValues.data();
    const int *slot = n->axisSlots.data();
    bool empty = false;
    for (size_t k = 0; k < rank; ++k) {
      extent[k] = eval(n->extents[k]).i;
      empty |= extent[k] <= 0;
    }
    double accF = 0;
    uint64_t accI = 0;
    switch (op) {
    case ReduceOp::Sum:
    case ReduceOp::Mean:
      break;
    case ReduceOp::Prod:
      accF = 1, accI = 1;
      break;
    case ReduceOp::Max:
      accF = -HUGE_VAL;
      accI = static_cast<uint64_t>(isInt(t) ? intMin(t) : 0);
      break;
    case ReduceOp::Min:
      accF = HUGE_VAL;
      accI = static_cast<uint64_t>(isInt(t) ? intMax(t) : 1);
      break;
    case ReduceOp::ArgMax:
    case ReduceOp::ArgMin:
      TDSL_UNREACHABLE("arg reductions are evaluated by evalArgReduce");
    }
    // Bool: Max and Sum are `or`, Min and Prod are `and`.
    bool isF = isFloat(t), isBool = t == DType::Bool;
    int64_t count = 0;
    if (!empty) {
      for (size_t k = 0; k < rank; ++k)
        envp[slot[k]] = fromInt(0);
      const Node *body = n->a;
      while (true) {
        Value v = eval(body);
        ++count;
        uint64_t u = isF ? 0 : static_cast<uint64_t>(v.i);
        switch (op) {
        case ReduceOp::Sum:
        case ReduceOp::Mean:
          if (isF)
            accF = rounded(t, accF + v.f);
          else
            accI = isBool ? (accI | u) : accI + u;
          break;
        case ReduceOp::Prod:
          if (isF)
            accF = rounded(t, accF * v.f);
          else
            accI = isBool ? (accI & u) : accI * u;
          break;
        case ReduceOp::Max:
          if (isF)
            accF = maxProp(accF, v.f);
          else
            accI = static_cast<uint64_t>(std::max(static_cast<int64_t>(accI), v.i));
          break;
        case ReduceOp::Min:
          if (isF)
            accF = minProp(accF, v.f);
          else
            accI = static_cast<uint64_t>(std::min(static_cast<int64_t>(accI), v.i));
          break;
        case ReduceOp::ArgMax:
        case ReduceOp::ArgMin:
          break;
        }
        size_t k = rank;
        while (k-- > 0) {
          if (++envp[slot[k]].i < extent[k])
            break;
          envp[slot[k]].i = 0;
        }
        if (k == static_cast<size_t>(-1))
          break;
      }
    }
    if (isF)
      return fromFloat(
          op == ReduceOp::Mean ? rounded(t, accF / rounded(t, static_cast<double>(count))) : accF);
    return fromInt(wrapInt(t, accI));
  }

  /// The first position of the largest (smallest) value; a NaN beats every number and the first
  /// NaN wins; -1 over no points.
  Value evalArgReduce(const Node *n, bool isMax) {
    int64_t extent = eval(n->extents[0]).i;
    int slot = n->axisSlots[0];
    bool isF = isFloat(n->a->dtype);
    int64_t best = -1;
    Value bestValue{};
    for (int64_t k = 0; k < extent; ++k) {
      envp[slot] = fromInt(k);
      Value v = eval(n->a);
      bool better;
      if (best < 0)
        better = true;
      else if (isF)
        better = std::isnan(bestValue.f) ? false
                 : std::isnan(v.f)       ? true
                 : isMax                 ? v.f > bestValue.f
                                         : v.f < bestValue.f;
      else
        better = isMax ? v.i > bestValue.i : v.i < bestValue.i;
      if (better)
        best = k, bestValue = v;
    }
    return fromInt(best);
  }

  /// `x` as an operation of type `t` yields it: rounded to f32 for an f32 operation in the
  /// rounded-f32 model, else unchanged (f64).
  double rounded(DType t, double x) const {
    return roundF32 && t == DType::F32 ? roundTo(DType::F32, x) : x;
  }

  const Kernel &kernel;
  const bool roundF32;
  const int mathFunctionUlps;
  std::unordered_map<const VarNode *, int> slots;
  std::unordered_map<const BufferNode *, int> bufferIds;
  std::unordered_map<const ExprNode *, const Node *> compiled;
  std::vector<std::unique_ptr<Node>> pool;
  std::vector<Storage> buffers;
  std::vector<Value> env;
  Value *envp = nullptr;
};

} // namespace

std::vector<Tensor> interpret(const Kernel &kernel, const std::vector<Tensor> &inputs,
                              bool roundEachF32, int mathFunctionUlps) {
  return Interpreter(kernel, roundEachF32, mathFunctionUlps).run(inputs);
}

} // namespace tdsl::ir
