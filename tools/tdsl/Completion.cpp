// Completion scripts: both shells walk the words typed so far down the command tree (`cache why`)
// and offer that command's options after a `-`, its subcommands, or else files.
#include "Completion.h"

#include <CLI/CLI.hpp>

namespace tdsl::tool {

namespace {

/// One command of the tree: its path ("" for tdsl itself, "cache why"), subcommands and flags.
struct Command {
  std::string path;
  std::vector<std::pair<std::string, std::string>> subcommands, flags; // Name, description.
};

void collect(CLI::App &app, const std::string &path, std::vector<Command> &out) {
  Command command{path, {}, {}};
  for (CLI::Option *opt : app.get_options()) {
    for (const std::string &name : opt->get_lnames())
      command.flags.emplace_back("--" + name, opt->get_description());
    for (const std::string &name : opt->get_snames())
      command.flags.emplace_back("-" + name, opt->get_description());
  }
  std::vector<CLI::App *> subs = app.get_subcommands([](CLI::App *) { return true; });
  for (CLI::App *sub : subs)
    command.subcommands.emplace_back(sub->get_name(), sub->get_description());
  out.push_back(command);
  for (CLI::App *sub : subs)
    collect(*sub, path.empty() ? sub->get_name() : path + " " + sub->get_name(), out);
}

/// `text` in single quotes for either shell.
std::string quote(const std::string &text) {
  std::string out = "'";
  for (char c : text)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

/// The loop, in either shell, that walks the words before the cursor (`words[first]` up to
/// `words[end - 1]`) down the command tree into `cmdpath`: "cache why" after `tdsl cache why`.
std::string walkCommands(const std::vector<Command> &commands, const std::string &words,
                         const std::string &first, const std::string &end) {
  std::string patterns;
  for (const Command &command : commands)
    for (const auto &[name, description] : command.subcommands)
      patterns += (patterns.empty() ? "" : "|") + quote(command.path + ":" + name);
  return "  for ((i = " + first + "; i < " + end + "; i++)); do\n" + "    case \"$cmdpath:${" +
         words + "[i]}\" in\n" + "      " + patterns + ")\n" +
         "        cmdpath=\"${cmdpath:+$cmdpath }${" + words + "[i]}\" ;;\n" +
         "    esac\n"
         "  done\n";
}

std::string bashScript(const std::vector<Command> &commands) {
  std::string script = "# bash completion for tdsl (`tdsl completion bash`): source it, e.g.\n"
                       "#   source <(tdsl completion bash)\n"
                       "_tdsl() {\n"
                       "  local cur=${COMP_WORDS[COMP_CWORD]} cmdpath=\"\" i words=\"\"\n" +
                       walkCommands(commands, "COMP_WORDS", "1", "COMP_CWORD") +
                       "  case \"$cmdpath\" in\n";
  for (const Command &command : commands) {
    std::string flags, subcommands;
    for (const auto &[name, description] : command.flags)
      flags += (flags.empty() ? "" : " ") + name;
    for (const auto &[name, description] : command.subcommands)
      subcommands += (subcommands.empty() ? "" : " ") + name;
    script += "    " + quote(command.path) +
              ")\n      if [[ $cur == -* ]]; then words=" + quote(flags) +
              "; else words=" + quote(subcommands) + "; fi ;;\n";
  }
  script += "  esac\n"
            "  COMPREPLY=($(compgen -W \"$words\" -- \"$cur\")) # None: files (-o default).\n"
            "}\n"
            "complete -o default -F _tdsl tdsl\n";
  return script;
}

std::string zshScript(const std::vector<Command> &commands) {
  std::string script = "#compdef tdsl\n"
                       "# zsh completion for tdsl (`tdsl completion zsh`): save it as _tdsl in a\n"
                       "# folder of $fpath, or source it after compinit.\n"
                       "_tdsl() {\n"
                       "  local cmdpath=\"\" i\n"
                       "  local -a choices\n" +
                       walkCommands(commands, "words", "2", "CURRENT") + "  case \"$cmdpath\" in\n";
  auto entries = [](const std::vector<std::pair<std::string, std::string>> &items) {
    std::string out;
    for (const auto &[name, description] : items)
      out += " " + quote(name + ":" + description);
    return out;
  };
  for (const Command &command : commands) {
    script += "    " + quote(command.path) + ")\n      if [[ $PREFIX == -* ]]; then choices=(" +
              entries(command.flags) + "); _describe option choices\n";
    if (command.subcommands.empty())
      script += "      else _files; fi ;;\n";
    else
      script += "      else choices=(" + entries(command.subcommands) +
                "); _describe command choices; fi ;;\n";
  }
  script += "  esac\n"
            "}\n"
            "if [[ $zsh_eval_context[-1] == loadautofunc ]]; then _tdsl \"$@\"; else compdef _tdsl "
            "tdsl; fi\n";
  return script;
}

} // namespace

std::string completionScript(CLI::App &app, const std::string &shell) {
  std::vector<Command> commands;
  collect(app, "", commands);
  return shell == "zsh" ? zshScript(commands) : bashScript(commands);
}

} // namespace tdsl::tool
