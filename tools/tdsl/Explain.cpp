// `tdsl explain`: the fusion pass's recorded decisions, tied to producer -> consumer edges and
// to the source, then the schedule's reasons (the schedule stage's text).
#include "Explain.h"

#include "frontend/Frontend.h"
#include "ir/IRVisitor.h"
#include "passes/Fuse.h"
#include "passes/Pipeline.h"
#include "tdsl/tdsl.h"

#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

namespace tdsl::tool {

CLI::App *addExplainCommand(CLI::App &app, ExplainOptions &opts) {
  CLI::App *cmd =
      app.add_subcommand("explain", "why each definition was fused or not, and each schedule");
  cmd->add_option("file", opts.file, ".tdsl source")->required();
  cmd->add_option("--kernel", opts.kernel, "kernel to explain (default: all)");
  cmd->add_option("--cpu", opts.cpu, "CPU to schedule for: host, x86-64-v3 or x86-64-v4")
      ->check(CLI::IsMember({"host", "x86-64-v3", "x86-64-v4"}));
  cmd->add_option("--threads", opts.threads, "threads to schedule for (default 0: all)")
      ->check(CLI::Range(0, 4096));
  return cmd;
}

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

} // namespace

std::string explainFusion(const ir::Kernel &kernel) {
  ir::Kernel normalized = passes::normalize(kernel);
  passes::FusedKernel fused = passes::fuse(normalized);

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
  out << "kernel " << kernel.name << " (" << lineCol(kernel.span) << "): "
      << fused.groups.size() << (fused.groups.size() == 1 ? " group" : " groups") << "\n";
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
        std::string storage = decision(p, "stored whole");
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

int explainCommand(const ExplainOptions &opts) {
  std::ifstream in(opts.file, std::ios::binary);
  if (!in)
    throw RuntimeError(ErrorCode::CannotReadSource, "cannot open " + opts.file);
  std::ostringstream text;
  text << in.rdbuf();
  Target target = Target::cpu();
  target.cpuLevel = opts.cpu;
  JitOptions options;
  options.target = target;
  options.threads = opts.threads;
  Jit jit(options);
  Module module = jit.compile(text.str(), opts.file); // Throws with every diagnostic.

  auto file = std::make_shared<const SourceFile>(SourceFile{opts.file, text.str()});
  DiagnosticEngine diags;
  std::optional<ir::Module> ir = frontend::compileSource(file, diags);
  if (!ir || diags.hasErrors())
    throw CompileError(diags.diagnostics());
  bool first = true;
  for (const ir::Kernel &k : ir->kernels) {
    if (!opts.kernel.empty() && k.name != opts.kernel)
      continue;
    std::cout << (first ? "" : "\n") << explainFusion(k);
    std::string schedule = module.kernel(k.name).dump(Stage::Schedule);
    std::cout << schedule << (schedule.empty() || schedule.back() != '\n' ? "\n" : "");
    first = false;
  }
  if (first && !opts.kernel.empty())
    module.kernel(opts.kernel); // Throws: no such kernel.
  return 0;
}

int printAfterCommand(const std::string &file, const std::string &kernel, const std::string &pass,
                      const std::string &target, const std::string &cpu, int threads) {
  Target t = target == "cuda" ? Target::cuda() : Target::cpu();
  t.cpuLevel = cpu;
  JitOptions options;
  options.target = t;
  options.threads = threads;
  Module module = Jit(options).compileFile(file);
  std::vector<std::string> names =
      kernel.empty() ? module.kernelNames() : std::vector<std::string>{kernel};
  for (const std::string &name : names)
    std::cout << module.kernel(name).dumpAfter(pass);
  return 0;
}

} // namespace tdsl::tool
