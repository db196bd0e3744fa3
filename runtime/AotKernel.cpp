// Kernel descriptions of ahead-of-time kernels: their text form and shape programs.
#include "runtime/AotKernel.h"

#include <charconv>
#include <limits>

namespace tdsl::runtime::aot {
namespace {

const std::pair<std::string_view, Token::Op> kOperators[] = {
    {"+", Token::Op::Add},       {"-", Token::Op::Sub},   {"*", Token::Op::Mul},
    {"//", Token::Op::FloorDiv}, {"%", Token::Op::Mod},   {"min", Token::Op::Min},
    {"max", Token::Op::Max},     {"neg", Token::Op::Neg}, {"==", Token::Op::Eq},
    {"!=", Token::Op::Ne},       {"<", Token::Op::Lt},    {"<=", Token::Op::Le},
    {">", Token::Op::Gt},        {">=", Token::Op::Ge},   {"&&", Token::Op::And},
    {"||", Token::Op::Or},       {"!", Token::Op::Not},   {"?", Token::Op::Select}};

/// Evaluates the expression starting at tokens[at], advancing `at` past it.
std::optional<int64_t> evaluateAt(const ShapeProgram &p, size_t &at, const int64_t *symbols) {
  if (at >= p.size())
    return std::nullopt;
  const Token &t = p[at++];
  switch (t.op) {
  case Token::Op::Const:
    return t.value;
  case Token::Op::Symbol:
    return symbols[t.value];
  case Token::Op::Neg: {
    std::optional<int64_t> a = evaluateAt(p, at, symbols);
    int64_t r;
    return a && !__builtin_sub_overflow(int64_t(0), *a, &r) ? std::optional(r) : std::nullopt;
  }
  case Token::Op::Not: {
    std::optional<int64_t> a = evaluateAt(p, at, symbols);
    return a ? std::optional<int64_t>(*a == 0) : std::nullopt;
  }
  case Token::Op::Select: { // Both values are read, to step past them.
    std::optional<int64_t> c = evaluateAt(p, at, symbols);
    std::optional<int64_t> a = c ? evaluateAt(p, at, symbols) : std::nullopt;
    std::optional<int64_t> b = a ? evaluateAt(p, at, symbols) : std::nullopt;
    return b ? (*c ? a : b) : std::nullopt;
  }
  default:
    break;
  }
  std::optional<int64_t> a = evaluateAt(p, at, symbols);
  std::optional<int64_t> b = a ? evaluateAt(p, at, symbols) : std::nullopt;
  if (!b)
    return std::nullopt;
  int64_t x = *a, y = *b, r;
  switch (t.op) {
  case Token::Op::Add:
    return __builtin_add_overflow(x, y, &r) ? std::nullopt : std::optional(r);
  case Token::Op::Sub:
    return __builtin_sub_overflow(x, y, &r) ? std::nullopt : std::optional(r);
  case Token::Op::Mul:
    return __builtin_mul_overflow(x, y, &r) ? std::nullopt : std::optional(r);
  case Token::Op::FloorDiv:
  case Token::Op::Mod: {
    // tdsl's integer division (ir/IntArith.h): x // 0 and x % 0 are 0, and so is x % -1.
    if (x == std::numeric_limits<int64_t>::min() && y == -1)
      return t.op == Token::Op::FloorDiv ? std::nullopt : std::optional<int64_t>(0);
    if (y == 0)
      return 0;
    int64_t q = x / y, m = x % y;
    if (m != 0 && ((m < 0) != (y < 0))) {
      --q;
      m += y;
    }
    return t.op == Token::Op::FloorDiv ? q : m;
  }
  case Token::Op::Min:
    return std::min(x, y);
  case Token::Op::Max:
    return std::max(x, y);
  case Token::Op::Eq:
    return x == y;
  case Token::Op::Ne:
    return x != y;
  case Token::Op::Lt:
    return x < y;
  case Token::Op::Le:
    return x <= y;
  case Token::Op::Gt:
    return x > y;
  case Token::Op::Ge:
    return x >= y;
  case Token::Op::And:
    return x && y;
  case Token::Op::Or:
    return x || y;
  default:
    return std::nullopt;
  }
}

std::string encodeProgram(const ShapeProgram &program) {
  std::string text;
  for (const Token &t : program) {
    text += text.empty() ? "" : " ";
    if (t.op == Token::Op::Const)
      text += std::to_string(t.value);
    else if (t.op == Token::Op::Symbol)
      text += "s" + std::to_string(t.value);
    else
      for (const auto &[spelling, op] : kOperators)
        if (op == t.op)
          text += spelling;
  }
  return text;
}

std::optional<int64_t> parseInt(std::string_view text) {
  int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size())
    return std::nullopt;
  return value;
}

std::optional<ShapeProgram> decodeProgram(std::string_view text, size_t numSymbols) {
  ShapeProgram program;
  while (!text.empty()) {
    size_t space = text.find(' ');
    std::string_view word = text.substr(0, space);
    text = space == std::string_view::npos ? std::string_view() : text.substr(space + 1);
    Token t;
    bool known = false;
    for (const auto &[spelling, op] : kOperators)
      if (word == spelling) {
        t.op = op;
        known = true;
      }
    if (!known) {
      bool symbol = !word.empty() && word[0] == 's';
      std::optional<int64_t> value = parseInt(symbol ? word.substr(1) : word);
      if (!value || (symbol && (*value < 0 || static_cast<size_t>(*value) >= numSymbols)))
        return std::nullopt;
      t.op = symbol ? Token::Op::Symbol : Token::Op::Const;
      t.value = *value;
    }
    program.push_back(t);
  }
  // Well formed: one whole expression, each operator followed by its operands.
  int64_t open = 1;
  for (const Token &t : program) {
    if (open == 0)
      return std::nullopt;
    open += t.op == Token::Op::Const || t.op == Token::Op::Symbol ? -1
            : t.op == Token::Op::Neg || t.op == Token::Op::Not    ? 0
            : t.op == Token::Op::Select                           ? 2
                                                                  : 1;
  }
  if (open != 0)
    return std::nullopt;
  return program;
}

/// Splits at ';' at most `limit` times (the last field keeps the rest).
std::vector<std::string_view> split(std::string_view text, size_t limit) {
  std::vector<std::string_view> fields;
  while (fields.size() < limit) {
    size_t semicolon = text.find(';');
    if (semicolon == std::string_view::npos)
      break;
    fields.push_back(text.substr(0, semicolon));
    text = text.substr(semicolon + 1);
  }
  fields.push_back(text);
  return fields;
}

/// Calls `line(what, rest)` for each line "what rest" of `text`, every line ended by a newline;
/// false when a line is not of that form or `line` returns false.
template <typename LineFn> bool forEachLine(std::string_view text, LineFn &&line) {
  while (!text.empty()) {
    size_t newline = text.find('\n');
    if (newline == std::string_view::npos)
      return false;
    std::string_view current = text.substr(0, newline);
    text = text.substr(newline + 1);
    size_t space = current.find(' ');
    if (space == std::string_view::npos ||
        !line(current.substr(0, space), current.substr(space + 1)))
      return false;
  }
  return true;
}

} // namespace

std::optional<int64_t> evaluate(const ShapeProgram &program, const int64_t *symbols) {
  size_t at = 0;
  return evaluateAt(program, at, symbols);
}

std::string KernelDescription::encode() const {
  std::string text = "kernel " + name + "\n";
  for (const std::string &s : symbols)
    text += "symbol " + s + "\n";
  auto tensor = [&](const char *role, const TensorDescription &t) {
    text += std::string(role) + " " + t.name + ";" + t.type + ";" + std::to_string(t.elementBytes);
    for (const ShapeProgram &d : t.dims)
      text += ";" + encodeProgram(d);
    text += "\n";
  };
  for (const TensorDescription &t : inputs)
    tensor("input", t);
  for (const TensorDescription &t : outputs)
    tensor("output", t);
  for (const ShapeProgram &e : extents)
    text += "extent " + encodeProgram(e) + "\n";
  for (const GatherDescription &c : checks)
    text += "check " + encodeProgram(c.size) + ";" + c.message + "\n";
  return text;
}

std::optional<KernelDescription> KernelDescription::decode(std::string_view text) {
  KernelDescription d;
  bool ok = forEachLine(text, [&](std::string_view what, std::string_view rest) {
    if (what == "kernel") {
      d.name = rest;
    } else if (what == "symbol") {
      d.symbols.emplace_back(rest);
    } else if (what == "input" || what == "output") {
      std::vector<std::string_view> fields = split(rest, std::string_view::npos);
      std::optional<int64_t> bytes = fields.size() < 3 ? std::nullopt : parseInt(fields[2]);
      if (!bytes || *bytes <= 0)
        return false;
      TensorDescription t{std::string(fields[0]), std::string(fields[1]), *bytes, {}};
      for (size_t i = 3; i < fields.size(); ++i) {
        std::optional<ShapeProgram> dim = decodeProgram(fields[i], d.symbols.size());
        if (!dim)
          return false;
        t.dims.push_back(std::move(*dim));
      }
      (what == "input" ? d.inputs : d.outputs).push_back(std::move(t));
    } else if (what == "extent") {
      std::optional<ShapeProgram> extent = decodeProgram(rest, d.symbols.size());
      if (!extent)
        return false;
      d.extents.push_back(std::move(*extent));
    } else if (what == "check") {
      std::vector<std::string_view> fields = split(rest, 1);
      std::optional<ShapeProgram> size =
          fields.size() == 2 ? decodeProgram(fields[0], d.symbols.size()) : std::nullopt;
      if (!size)
        return false;
      d.checks.push_back({std::move(*size), std::string(fields[1])});
    } else {
      return false;
    }
    return true;
  });
  if (!ok)
    return std::nullopt;
  return d;
}

std::string GpuDescription::encode() const {
  std::string text;
  for (const LaunchDescription &l : launches) {
    text += "launch " + l.name + "\n";
    for (const ShapeProgram &let : l.lets)
      text += "let " + encodeProgram(let) + "\n";
    text += "blocks " + encodeProgram(l.blocks) + "\nthreads " + encodeProgram(l.threads) +
            "\nshared " + encodeProgram(l.sharedBytes) + "\n";
    if (!l.condition.empty())
      text += "when " + encodeProgram(l.condition) + "\n";
  }
  for (const HeapDescription &h : heap)
    text += "heap " + std::to_string(h.launch) + ";" + encodeProgram(h.bytes) + "\n";
  return text;
}

std::optional<GpuDescription> GpuDescription::decode(std::string_view text, size_t numSymbols) {
  GpuDescription d;
  bool ok = forEachLine(text, [&](std::string_view what, std::string_view rest) {
    if (what == "launch") {
      d.launches.push_back({std::string(rest), {}, {}, {}, {}, {}});
      return true;
    }
    if (what == "heap") {
      std::vector<std::string_view> fields = split(rest, 1);
      std::optional<int64_t> launch = parseInt(fields[0]);
      if (fields.size() != 2 || !launch || *launch < 0 ||
          static_cast<size_t>(*launch) >= d.launches.size())
        return false;
      std::optional<ShapeProgram> bytes =
          decodeProgram(fields[1], numSymbols + d.launches[*launch].lets.size());
      if (!bytes)
        return false;
      d.heap.push_back({static_cast<size_t>(*launch), std::move(*bytes)});
      return true;
    }
    if (d.launches.empty())
      return false;
    LaunchDescription &l = d.launches.back();
    std::optional<ShapeProgram> program = decodeProgram(rest, numSymbols + l.lets.size());
    if (!program)
      return false;
    if (what == "let")
      l.lets.push_back(std::move(*program));
    else if (what == "blocks")
      l.blocks = std::move(*program);
    else if (what == "threads")
      l.threads = std::move(*program);
    else if (what == "shared")
      l.sharedBytes = std::move(*program);
    else if (what == "when")
      l.condition = std::move(*program);
    else
      return false;
    return true;
  });
  if (!ok)
    return std::nullopt;
  for (const LaunchDescription &l : d.launches)
    if (l.blocks.empty() || l.threads.empty() || l.sharedBytes.empty())
      return std::nullopt;
  return d;
}

} // namespace tdsl::runtime::aot
