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

/// The CPU's fusion of a normalized kernel, as the pipeline decides it.
passes::FusedKernel fuseForExplain(const ir::Kernel &normalized) {
  return passes::tileContractionConsumers(
      passes::fuseStencils(passes::isolateContractions(passes::fuse(normalized))));
}

/// The fusion part of the explanation of one kernel (sema's output): a header line, then one
/// line per edge. Stable text (golden-tested in tests/lit/explain).
std::string explainFusion(const ir::Kernel &kernel) {
  ir::Kernel normalized = passes::normalize(kernel);
  passes::FusedKernel fused = fuseForExplain(normalized);

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
          storage = decision(p, "a window of");
        if (storage.empty())
          storage = decision(p, "stored whole");
        // Groups of one row chain run together per block of rows (docs/fusion.md).
        bool chained = storage.rfind("a window of the row chain", 0) == 0;
        out << (chained ? "chained (group " : "not fused (group ") << groupOf[p] << " -> group "
            << groupOf[c] << "): ";
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

/// Where the GPU runs a fused group as several kernels: which, and why.
std::string explainGpuSplits(const ir::Kernel &kernel, const std::vector<detail::GpuLaunch> &gpu) {
  ir::Kernel normalized = passes::normalize(kernel);
  passes::FusedKernel fused = fuseForExplain(normalized);
  std::ostringstream out;
  for (size_t g = 0; g < fused.groups.size(); ++g) {
    std::vector<std::string> members;
    for (size_t m : fused.groups[g].members)
      members.push_back(fused.kernel.defs[m].target->name);
    // A member's own buffer, or a temporary the compiler made for it ("t.acc.partials" belongs
    // to t; user names have no dots): the longest definition name that prefixes it.
    auto ofGroup = [&](const std::string &written) {
      std::string owner;
      for (const ir::Definition &d : normalized.defs) {
        const std::string &n = d.target->name;
        if ((written == n || written.rfind(n + ".", 0) == 0) && n.size() > owner.size())
          owner = n;
      }
      return std::find(members.begin(), members.end(), owner) != members.end();
    };
    // Alternatives (consecutive conditional launches writing the same buffers) run as one
    // kernel: the first stands for them.
    std::vector<const detail::GpuLaunch *> launches;
    for (size_t i = 0; i < gpu.size(); ++i)
      if (std::any_of(gpu[i].writes.begin(), gpu[i].writes.end(), ofGroup) &&
          !(gpu[i].conditional && i > 0 && gpu[i - 1].conditional &&
            gpu[i - 1].writes == gpu[i].writes))
        launches.push_back(&gpu[i]);
    if (launches.size() < 2)
      continue;
    auto has = [&](const std::string &schedule) {
      return std::any_of(launches.begin(), launches.end(),
                         [&](const detail::GpuLaunch *l) { return l->schedule == schedule; });
    };
    out << "group " << g << " runs as " << launches.size() << " GPU kernels:";
    for (const detail::GpuLaunch *l : launches)
      out << " " << l->name << " (" << l->schedule << ")";
    out << "; ";
    if (has("column-partials") || has("reduce-partials"))
      out << "a reduction " << (has("column-partials") ? "along a strided dim" : "to one value")
          << " runs in two stages (partials, then their combine in a fixed order)";
    else
      out << "the GPU schedules join nests only as a row group (reductions over contiguous rows "
             "and what follows on the same rows) or a contraction with its epilogue";
    if (launches.size() > 2 || !(has("column-partials") || has("reduce-partials")))
      out << "; other nests are a kernel each";
    out << "\n";
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
  if (detail::kernelTarget(*state).kind == Target::Kind::Cuda)
    text += explainGpuSplits(detail::kernelIR(*state), detail::gpuLaunches(*state));
  return text + detail::tierHistory(*state);
}

std::string Module::explain() const {
  std::string text;
  for (const std::string &name : kernelNames())
    text += (text.empty() ? "" : "\n") + kernel(name).explain();
  return text;
}

} // namespace tdsl
