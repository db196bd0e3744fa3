// Kernel::explain and Module::explain (`tdsl explain`): the fusion pass's recorded decisions,
// tied to producer -> consumer edges and to the source, then the schedule's reasons (the
// schedule stage's text).
#include "api/Inspect.h"

#include "ir/IRVisitor.h"
#include "passes/Contraction.h"
#include "passes/Fuse.h"
#include "passes/Pipeline.h"

#include <algorithm>
#include <map>
#include <sstream>

namespace tdsl {
namespace {

/// "line:col" of a span ("?" when it has none).
std::string lineCol(const SourceSpan &span) {
  if (!span.valid())
    return "?";
  std::string s = span.str(); // "file:line:col"
  size_t col = s.rfind(':');
  size_t line = col == std::string::npos || col == 0 ? std::string::npos : s.rfind(':', col - 1);
  return line == std::string::npos ? s : s.substr(line + 1);
}

/// The buffers an expression reads, in first-read order.
class Reads final : public ir::IRVisitor {
public:
  std::vector<const ir::BufferNode *> buffers;

protected:
  void visitAccess(const ir::Access *node) override {
    if (std::find(buffers.begin(), buffers.end(), node->buffer.get()) == buffers.end())
      buffers.push_back(node->buffer.get());
    ir::IRVisitor::visitAccess(node);
  }
};

/// The fusion part of the explanation of one kernel (sema's output): a header line, then one
/// line per edge. Stable text (golden-tested in tests/lit/explain).
std::string explainFusion(const ir::Kernel &kernel) {
  ir::Kernel normalized = passes::normalize(kernel);
  passes::FusedKernel fused =
      passes::fuseStencils(passes::isolateContractions(passes::fuse(normalized)));

  // The decisions by definition name, in the order taken.
  std::map<std::string, std::vector<std::string>> decided;
  for (const std::string &d : fused.decisions) {
    size_t colon = d.find(": ");
    if (colon != std::string::npos)
      decided[d.substr(0, colon)].push_back(d.substr(colon + 2));
  }
  auto decision = [&](const std::string &name, const std::string &prefix) -> std::string {
    for (const std::string &d : decided[name])
      if (d.rfind(prefix, 0) == 0)
        return d;
    return {};
  };
  std::map<std::string, size_t> groupOf;
  for (size_t g = 0; g < fused.groups.size(); ++g)
    for (size_t m : fused.groups[g].members)
      groupOf[fused.kernel.defs[m].target->name] = g;

  std::map<const ir::BufferNode *, const ir::Definition *> producer;
  for (const ir::Definition &d : normalized.defs)
    producer[d.target.get()] = &d;

  std::ostringstream out;
  out << "kernel " << kernel.name << " (" << lineCol(kernel.span) << "): " << fused.groups.size()
      << (fused.groups.size() == 1 ? " group" : " groups") << "\n";
  for (const ir::Definition &consumer : normalized.defs) {
    Reads reads;
    reads.visit(consumer.value);
    const std::string &c = consumer.target->name;
    for (const ir::BufferNode *buffer : reads.buffers) {
      auto it = producer.find(buffer);
      if (it == producer.end())
        continue; // An input: nothing to decide.
      const std::string &p = buffer->name;
      out << "  " << p << " (" << lineCol(it->second->span) << ") -> " << c << " ("
          << lineCol(consumer.span) << "): ";
      bool producerKept = groupOf.count(p) != 0, consumerKept = groupOf.count(c) != 0;
      if (!producerKept) {
        out << "inlined: " << decided[p].front();
      } else if (!consumerKept) {
        out << "not fused: " << c << " is inlined into its readers: " << decided[c].front();
      } else if (groupOf[p] == groupOf[c]) {
        std::string join = decision(c, "joins group");
        std::string storage = decision(p, "local to");
        out << "fused in group " << groupOf[p] << ": " << c << " "
            << (join.empty() ? "is in the same group" : join) << "; " << p << " "
            << (storage.empty() ? decided[p].front() : storage);
      } else {
        std::string start = decision(c, "starts group");
        std::string storage = decision(p, "computed per block");
        if (storage.empty())
          storage = decision(p, "stored whole");
        out << "not fused (group " << groupOf[p] << " -> group " << groupOf[c] << "): ";
        if (!start.empty())
          out << c << " " << start;
        else
          out << c << " " << decision(c, "joins group");
        if (!storage.empty())
          out << "; " << p << " " << storage;
        else if (buffer->role == ir::BufferRole::Output)
          out << "; " << p << " is an output, stored whole";
      }
      out << "\n";
    }
  }
  return out.str();
}

} // namespace

std::string Kernel::explain() const {
  std::string text = explainFusion(detail::kernelIR(*state));
  std::string schedule = dump(Stage::Schedule);
  text += schedule;
  if (schedule.empty() || schedule.back() != '\n')
    text += '\n';
  return text;
}

std::string Module::explain() const {
  std::string text;
  for (const std::string &name : kernelNames())
    text += (text.empty() ? "" : "\n") + kernel(name).explain();
  return text;
}

} // namespace tdsl
