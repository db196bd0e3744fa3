#include "ir/IR.h"

#include "support/Check.h"

#include <cmath>

namespace tdsl::ir {

std::string Type::str() const {
  std::string name(dtypeName(dtype));
  return lanes == 1 ? name : "<" + std::to_string(lanes) + " x " + name + ">";
}

Var makeVar(std::string name, Type type, VarKind kind) {
  return std::make_shared<const VarNode>(VarNode{std::move(name), type, kind});
}

Buffer makeBuffer(std::string name, DType dtype, std::vector<Expr> shape, BufferRole role,
                  SourceSpan span) {
  for (const Expr &d : shape)
    TDSL_CHECK(d && d->type == Type::i64()) << "buffer " << name << " has a non-i64 dimension";
  return std::make_shared<const BufferNode>(
      BufferNode{std::move(name), dtype, std::move(shape), role, std::move(span)});
}

Buffer makePanelBuffer(std::string name, std::vector<Expr> shape) {
  Buffer b = makeBuffer(std::move(name), DType::F32, std::move(shape), BufferRole::Intermediate);
  auto panels = std::make_shared<BufferNode>(*b);
  panels->packedPanels = true;
  return panels;
}

Expr IntImm::make(Type type, int64_t value) {
  TDSL_CHECK(type.isInt() || type.isBool()) << "IntImm of type " << type.str();
  value = wrapInt(type.dtype, uint64_t(value)); // One spelling per value: u8 -1 is 255.
  return std::make_shared<const IntImm>(type, value);
}

Expr FloatImm::make(Type type, double value) {
  TDSL_CHECK(type.isFloat()) << "FloatImm of type " << type.str();
  return std::make_shared<const FloatImm>(type, value);
}

Expr VarRef::make(Var var) {
  TDSL_CHECK(var != nullptr) << "null variable";
  return std::make_shared<const VarRef>(std::move(var));
}

Expr Unary::make(UnaryOp op, Expr a) {
  TDSL_CHECK(a) << "null operand";
  if (op == UnaryOp::Not)
    TDSL_CHECK(a->type.isBool()) << "not of " << a->type.str();
  else
    TDSL_CHECK(!a->type.isBool()) << "negation of bool";
  Type t = a->type;
  return std::make_shared<const Unary>(t, op, std::move(a));
}

bool isComparison(BinaryOp op) {
  return op == BinaryOp::Eq || op == BinaryOp::Ne || op == BinaryOp::Lt || op == BinaryOp::Le ||
         op == BinaryOp::Gt || op == BinaryOp::Ge;
}

Expr Binary::make(BinaryOp op, Expr a, Expr b) {
  TDSL_CHECK(a && b) << "null operand";
  TDSL_CHECK(a->type == b->type) << "operands of different types: " << a->type.str() << " and "
                                 << b->type.str();
  Type t = a->type;
  if (isComparison(op)) {
    t = t.withDType(DType::Bool);
  } else if (op == BinaryOp::And || op == BinaryOp::Or) {
    TDSL_CHECK(a->type.isBool()) << "and/or of " << a->type.str();
  } else {
    TDSL_CHECK(!a->type.isBool()) << "arithmetic on bool";
    TDSL_CHECK(!(op == BinaryOp::Div && a->type.isInt())) << "integer '/'";
  }
  return std::make_shared<const Binary>(t, op, std::move(a), std::move(b));
}

Expr Call::make(Intrinsic fn, std::vector<Expr> args) {
  TDSL_CHECK(args.size() == 1 && args[0]) << "intrinsics take one argument";
  Type t = args[0]->type;
  if (fn == Intrinsic::Abs || fn == Intrinsic::Relu)
    TDSL_CHECK(!t.isBool()) << "abs/relu of bool";
  else
    TDSL_CHECK(t.isFloat()) << "math function of " << t.str();
  return std::make_shared<const Call>(t, fn, std::move(args));
}

Expr Select::make(Expr cond, Expr a, Expr b) {
  TDSL_CHECK(cond && a && b) << "null operand";
  TDSL_CHECK(a->type == b->type) << "select arms differ: " << a->type.str() << " and "
                                 << b->type.str();
  TDSL_CHECK(cond->type == a->type.withDType(DType::Bool))
      << "select condition of type " << cond->type.str();
  Type t = a->type;
  return std::make_shared<const Select>(t, std::move(cond), std::move(a), std::move(b));
}

Expr Cast::make(Type type, Expr a) {
  TDSL_CHECK(a && a->type.lanes == type.lanes) << "cast changes lanes";
  return std::make_shared<const Cast>(type, std::move(a));
}

Expr Access::make(Buffer buffer, std::vector<Expr> indices, Expr fallback) {
  TDSL_CHECK(buffer && indices.size() == buffer->shape.size())
      << "access to " << (buffer ? buffer->name : "null") << " with " << indices.size()
      << " indices";
  for (const Expr &i : indices)
    TDSL_CHECK(i && i->type == Type::i64()) << "non-i64 index into " << buffer->name;
  Type t = Type::scalar(buffer->dtype);
  if (fallback)
    TDSL_CHECK(fallback->type == t)
        << "fallback of type " << fallback->type.str() << " for " << buffer->name;
  return std::make_shared<const Access>(t, std::move(buffer), std::move(indices),
                                        std::move(fallback));
}

Expr Reduce::make(ReduceOp op, std::vector<IterVar> axes, Expr body) {
  TDSL_CHECK(body && !body->type.isVector()) << "reduction of a vector";
  TDSL_CHECK(!axes.empty()) << "reduction over no axes";
  for (const IterVar &iv : axes)
    TDSL_CHECK(iv.var && iv.extent && iv.extent->type == Type::i64()) << "bad reduction axis";
  if (op == ReduceOp::Mean)
    TDSL_CHECK(body->type.isFloat()) << "mean of " << body->type.str();
  bool arg = isArgReduction(op);
  if (arg)
    TDSL_CHECK(axes.size() == 1 && !body->type.isBool()) << "arg reduction of bool or several axes";
  Type t = arg ? Type::i64() : body->type;
  return std::make_shared<const Reduce>(t, op, std::move(axes), std::move(body));
}

Expr Load::make(Buffer buffer, Expr index, Expr predicate) {
  TDSL_CHECK(buffer && index && index->type.dtype == DType::I64) << "load needs an i64 index";
  Type t = Type{buffer->dtype, index->type.lanes};
  if (predicate)
    TDSL_CHECK(predicate->type == t.withDType(DType::Bool))
        << "load predicate of type " << predicate->type.str();
  return std::make_shared<const Load>(t, std::move(buffer), std::move(index), std::move(predicate));
}

Expr Ramp::make(Expr base, Expr stride, int lanes) {
  TDSL_CHECK(base && stride && !base->type.isVector() && base->type == stride->type)
      << "ramp of bad operands";
  TDSL_CHECK(lanes > 1) << "ramp of " << lanes << " lanes";
  Type t = base->type.withLanes(lanes);
  return std::make_shared<const Ramp>(t, std::move(base), std::move(stride), lanes);
}

Expr Broadcast::make(Expr value, int lanes) {
  TDSL_CHECK(value && !value->type.isVector()) << "broadcast of a vector";
  TDSL_CHECK(lanes > 1) << "broadcast to " << lanes << " lanes";
  Type t = value->type.withLanes(lanes);
  return std::make_shared<const Broadcast>(t, std::move(value), lanes);
}

Expr VectorReduce::make(ReduceOp op, Expr value) {
  TDSL_CHECK(value && value->type.isVector()) << "vector reduction of a scalar";
  TDSL_CHECK(op != ReduceOp::Mean && !isArgReduction(op)) << "vector mean or arg reduction";
  Type t = value->type.element();
  return std::make_shared<const VectorReduce>(t, op, std::move(value));
}

Expr Shuffle::make(Expr a, Expr b, std::vector<int> indices) {
  TDSL_CHECK(a && b && a->type.isVector() && a->type == b->type) << "shuffle of bad operands";
  TDSL_CHECK(indices.size() > 1) << "shuffle to " << indices.size() << " lanes";
  for (int i : indices)
    TDSL_CHECK(i >= 0 && i < 2 * a->type.lanes) << "shuffle index " << i << " out of range";
  Type t = a->type.withLanes(static_cast<int>(indices.size()));
  return std::make_shared<const Shuffle>(t, std::move(a), std::move(b), std::move(indices));
}

Expr WarpShuffle::make(Expr value, int xorMask) {
  TDSL_CHECK(value && !value->type.isVector()) << "warp shuffle of a vector";
  TDSL_CHECK(xorMask >= 1 && xorMask <= 31) << "warp shuffle mask " << xorMask;
  Type t = value->type;
  return std::make_shared<const WarpShuffle>(t, std::move(value), xorMask);
}

Expr BufferAligned::make(Buffer buffer, int bytes) {
  TDSL_CHECK(buffer) << "alignment of a null buffer";
  TDSL_CHECK(bytes > 0 && (bytes & (bytes - 1)) == 0) << "alignment of " << bytes << " bytes";
  return std::make_shared<const BufferAligned>(Type::boolean(), std::move(buffer), bytes);
}

Expr intImm(int64_t value, DType dtype) { return IntImm::make(Type::scalar(dtype), value); }
Expr floatImm(double value, DType dtype) { return FloatImm::make(Type::scalar(dtype), value); }
Expr boolImm(bool value) { return IntImm::make(Type::boolean(), value); }
Expr ref(const Var &var) { return VarRef::make(var); }
Expr ref(Var &var) { return VarRef::make(var); }
Expr add(Expr a, Expr b) { return Binary::make(BinaryOp::Add, std::move(a), std::move(b)); }
Expr sub(Expr a, Expr b) { return Binary::make(BinaryOp::Sub, std::move(a), std::move(b)); }
Expr mul(Expr a, Expr b) { return Binary::make(BinaryOp::Mul, std::move(a), std::move(b)); }

Stmt For::make(Var var, Expr extent, ForKind kind, Stmt body) {
  TDSL_CHECK(var && extent && body) << "incomplete for loop";
  TDSL_CHECK(extent->type == Type::i64() && var->type == Type::i64()) << "non-i64 loop";
  return std::make_shared<const For>(std::move(var), std::move(extent), kind, std::move(body));
}

Stmt Block::make(std::vector<Stmt> stmts) {
  std::vector<Stmt> flat;
  for (Stmt &s : stmts) {
    TDSL_CHECK(s) << "null statement in block";
    if (const Block *b = s->as<Block>())
      flat.insert(flat.end(), b->stmts.begin(), b->stmts.end());
    else
      flat.push_back(std::move(s));
  }
  if (flat.size() == 1)
    return flat[0];
  return std::make_shared<const Block>(std::move(flat));
}

Stmt Store::make(Buffer buffer, Expr index, Expr value, Expr predicate) {
  TDSL_CHECK(buffer && index && value) << "incomplete store";
  TDSL_CHECK(index->type.dtype == DType::I64 && index->type.lanes == value->type.lanes)
      << "store index " << index->type.str() << " for value " << value->type.str();
  TDSL_CHECK(value->type.dtype == buffer->dtype)
      << "store of " << value->type.str() << " into " << buffer->name;
  if (predicate)
    TDSL_CHECK(predicate->type == value->type.withDType(DType::Bool)) << "bad store predicate";
  return std::make_shared<const Store>(std::move(buffer), std::move(index), std::move(value),
                                       std::move(predicate));
}

Stmt Allocate::make(Buffer buffer, MemoryScope scope, Stmt body) {
  TDSL_CHECK(buffer && body) << "incomplete allocate";
  return std::make_shared<const Allocate>(std::move(buffer), scope, std::move(body));
}

Stmt LetStmt::make(Var var, Expr value, Stmt body) {
  TDSL_CHECK(var && value && body && var->type == value->type) << "bad let";
  return std::make_shared<const LetStmt>(std::move(var), std::move(value), std::move(body));
}

Stmt IfThenElse::make(Expr cond, Stmt thenCase, Stmt elseCase) {
  TDSL_CHECK(cond && thenCase && cond->type == Type::boolean()) << "bad if";
  return std::make_shared<const IfThenElse>(std::move(cond), std::move(thenCase),
                                            std::move(elseCase));
}

Stmt Barrier::make(BarrierScope scope) { return std::make_shared<const Barrier>(scope); }

Stmt GpuIntrinsic::make(GpuOp op, std::vector<Buffer> buffers, std::vector<Expr> offsets,
                        int64_t immediate) {
  TDSL_CHECK(buffers.size() == offsets.size())
      << "GPU intrinsic with " << buffers.size() << " buffers and " << offsets.size() << " offsets";
  for (size_t i = 0; i < buffers.size(); ++i)
    TDSL_CHECK(buffers[i] && offsets[i] && offsets[i]->type == Type::i64())
        << "GPU intrinsic operand " << i << " incomplete or not at an i64 offset";
  return std::make_shared<const GpuIntrinsic>(op, std::move(buffers), std::move(offsets),
                                              immediate);
}

Stmt GpuLaunch::make(std::string name, GpuScheduleKind schedule, std::vector<std::string> details,
                     Stmt body, Expr condition, int blocksPerSm) {
  TDSL_CHECK(!name.empty() && body) << "GPU launch without a name or a body";
  TDSL_CHECK(!condition || condition->type == Type::boolean())
      << "GPU launch " << name << " whose condition is not a bool";
  TDSL_CHECK(blocksPerSm >= 0 && blocksPerSm <= 32)
      << "GPU launch " << name << " asking for " << blocksPerSm << " blocks an SM";
  return std::make_shared<const GpuLaunch>(std::move(name), schedule, std::move(details),
                                           std::move(body), std::move(condition), blocksPerSm);
}

} // namespace tdsl::ir
