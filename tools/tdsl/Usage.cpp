// Errors of the command line: CLI11's parse errors become `error[E0xx]` with a did-you-mean.
#include "Usage.h"

#include "support/DidYouMean.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <regex>
#include <sstream>

namespace tdsl::tool {

bool isUsageCode(ErrorCode code) {
  switch (code) {
  case ErrorCode::NoSuchKernel: // Thrown by Module::kernel for `--kernel NAME`.
  case ErrorCode::UnboundSymbol:
  case ErrorCode::BadFlag:
  case ErrorCode::MissingInput:
  case ErrorCode::ShapeContradictsInput:
  case ErrorCode::UnknownShapeSymbol:
  case ErrorCode::InexactScalar:
  case ErrorCode::UnknownArgument:
  case ErrorCode::MissingArgument:
    return true;
  default:
    return false;
  }
}

namespace {

/// The (sub)command that was being parsed: the last parsed subcommand, followed down.
CLI::App *innermostCommand(CLI::App &app) {
  CLI::App *command = &app;
  while (!command->get_subcommands().empty())
    command = command->get_subcommands().back();
  return command;
}

/// "tdsl run", "tdsl cache why".
std::string commandPath(const CLI::App *command) {
  std::string path;
  for (; command->get_parent(); command = command->get_parent())
    path = " " + command->get_name() + path;
  return "tdsl" + path;
}

std::vector<std::string> subcommandNames(CLI::App &command) {
  std::vector<std::string> names;
  for (CLI::App *sub : command.get_subcommands([](CLI::App *) { return true; }))
    names.push_back(sub->get_name());
  return names;
}

/// The flags `command` accepts, with those of its parents (which options fall through to).
std::vector<std::string> flagNames(CLI::App *command) {
  std::vector<std::string> names;
  for (; command; command = command->get_parent())
    for (const CLI::Option *opt : command->get_options()) {
      for (const std::string &name : opt->get_lnames())
        names.push_back("--" + name);
      for (const std::string &name : opt->get_snames())
        names.push_back("-" + name);
    }
  return names;
}

/// The option a message of CLI11 starts with ("--kernel: 1 required TEXT missing").
std::string leadingFlag(const std::string &message) {
  size_t start = message.find('-');
  if (start == std::string::npos)
    return {};
  size_t end = message.find_first_of(": ", start);
  return message.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

UsageError unknownArgument(const std::string &argument, CLI::App *command) {
  const std::string path = commandPath(command);
  const std::string help = "see '" + path + " --help'";
  if (argument.size() > 1 && argument[0] == '-') {
    std::string flag = argument.substr(0, argument.find('='));
    return UsageError(ErrorCode::UnknownArgument, path + " has no option '" + flag + "'",
                      didYouMean(flag, flagNames(command), help + " for its options"));
  }
  std::vector<std::string> subcommands = subcommandNames(*command);
  if (!subcommands.empty())
    return UsageError(
        ErrorCode::UnknownArgument,
        "unknown command '" + argument + "'" + (command->get_parent() ? " for " + path : ""),
        didYouMean(argument, subcommands, "the commands are " + listWords(subcommands)));
  return UsageError(ErrorCode::UnknownArgument,
                    "unexpected argument '" + argument + "' for " + path, help);
}

UsageError missingArgument(const CLI::ParseError &error, CLI::App *command) {
  const std::string path = commandPath(command);
  std::vector<std::string> subcommands = subcommandNames(*command);
  if (!subcommands.empty() && command->get_subcommands().empty())
    return UsageError(ErrorCode::MissingArgument, path + " needs a command",
                      "the commands are " + listWords(subcommands) + "; see '" + path + " --help'");
  for (const CLI::Option *opt : command->get_options())
    if (opt->get_positional() && opt->get_required() && opt->count() == 0) {
      std::string name = opt->get_name();
      std::transform(name.begin(), name.end(), name.begin(), ::toupper);
      return UsageError(ErrorCode::MissingArgument,
                        path + " needs a " + name + " (" + opt->get_description() + ")",
                        "see '" + path + " --help'");
    }
  std::string flag = leadingFlag(error.what());
  return UsageError(ErrorCode::MissingArgument,
                    flag.empty() ? std::string(error.what()) : flag + " needs a value",
                    "see '" + path + " --help'");
}

UsageError badValue(const CLI::ParseError &error, CLI::App *command) {
  const std::string help = "see '" + commandPath(command) + " --help'";
  // CLI::IsMember's "--target: gpu not in {cpu,cuda}": the choices in words, and the nearest.
  static const std::regex notAChoice(R"(^(\S+): (.*) not in \{(.*)\}$)");
  std::smatch match;
  const std::string message = error.what();
  if (!std::regex_match(message, match, notAChoice))
    return UsageError(ErrorCode::BadFlag, message, help);
  std::vector<std::string> choices;
  std::stringstream list(match[3].str());
  for (std::string choice; std::getline(list, choice, ',');)
    choices.push_back(choice);
  return UsageError(ErrorCode::BadFlag,
                    match[1].str() + " " + match[2].str() + ": the choices are " +
                        listWords(choices),
                    didYouMean(match[2].str(), choices, help));
}

} // namespace

std::string didYouMean(const std::string &word, const std::vector<std::string> &candidates,
                       const std::string &otherwise) {
  std::string match = nearestName(word, candidates);
  return match.empty() ? otherwise : "did you mean '" + match + "'?";
}

std::string listWords(const std::vector<std::string> &words) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i)
    out += (i == 0 ? "" : i + 1 == words.size() ? " and " : ", ") + words[i];
  return out;
}

UsageError translateParseError(const CLI::ParseError &error, CLI::App &app) {
  CLI::App *command = innermostCommand(app);
  // An unknown word is the likeliest cause of any other complaint (`tdsl rn x.tdsl`: no command).
  std::vector<std::string> extras = app.remaining(true);
  if (!extras.empty())
    return unknownArgument(extras.front(), command);
  if (dynamic_cast<const CLI::RequiredError *>(&error) ||
      dynamic_cast<const CLI::ArgumentMismatch *>(&error))
    return missingArgument(error, command);
  return badValue(error, command);
}

} // namespace tdsl::tool
