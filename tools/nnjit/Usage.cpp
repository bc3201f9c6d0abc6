// Usage: what `nnjit` says about its own command line — help, usage, --version and unknown words.
#include "Usage.h"

#include <nnjit/nnjit.h>

#include <fmt/format.h>

#include <cctype>
#include <variant>

namespace nnjit::cli {
namespace {

/// Lines of help are wrapped to this width, as a terminal's default.
constexpr size_t kWidth = 80;

/// Where an option's description starts, when its label leaves room.
constexpr size_t kDescriptionColumn = 24;

/// `words` joined by spaces, wrapped before `kWidth`; lines after the first start with `indent` spaces.
std::string wrap(const std::vector<std::string>& words, size_t start, size_t indent) {
  std::string out;
  size_t column = start;
  for (const std::string& w : words) {
    bool first = column == start && out.empty();
    if (!first && column + 1 + w.size() > kWidth) {
      out += "\n" + std::string(indent, ' ');
      column = indent;
    } else if (!first) {
      out += ' ';
      ++column;
    }
    out += w;
    column += w.size();
  }
  return out;
}

std::vector<std::string> splitWords(const std::string& text) {
  std::vector<std::string> words;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find(' ', at);
    if (end == std::string::npos) end = text.size();
    if (end > at) words.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  return words;
}

bool hidden(const CLI::Option* o) { return o->get_group().empty(); }

/// An option with a value (`--epochs N`), not a flag (`--time-report`).
bool takesValue(const CLI::Option* o) { return o->get_items_expected_min() > 0; }

/// `--epochs N`, `-h, --help`, `MODEL.nn`.
std::string label(const CLI::Option* o) {
  if (o->get_positional()) return o->get_type_name();
  std::string names;
  for (const std::string& s : o->get_snames()) names += "-" + s + ", ";
  for (const std::string& l : o->get_lnames()) names += "--" + l + ", ";
  names.resize(names.size() - 2);
  if (takesValue(o)) names += " " + o->get_type_name();
  return names;
}

/// The synopsis of a command: what it needs bare, what it may take in brackets.
std::string synopsis(const CLI::App& cmd) {
  std::vector<std::string> words;
  bool inOneOf = false;
  for (const CLI::Option* o : cmd.get_options()) {
    if (hidden(o) || o == cmd.get_help_ptr()) continue;
    bool oneOf = o->get_group() == kOneOfGroup;
    if (oneOf && inOneOf) words.push_back("|");
    inOneOf = oneOf;
    bool needed = o->get_positional() || o->get_required() || oneOf || o->get_group() == kRequiredGroup;
    words.push_back(needed ? label(o) : "[" + label(o) + "]");
  }
  std::string prefix = "usage: nnjit " + cmd.get_name() + " ";
  return prefix + wrap(words, prefix.size(), prefix.size()) + "\n";
}

/// `  --epochs N              epochs to train ...`, the description wrapped under itself.
std::string optionLine(const std::string& name, const std::string& description) {
  std::string line = "  " + name;
  if (line.size() + 2 > kDescriptionColumn) line += "\n" + std::string(kDescriptionColumn, ' ');
  else line += std::string(kDescriptionColumn - line.size(), ' ');
  return line + wrap(splitWords(description), kDescriptionColumn, kDescriptionColumn) + "\n";
}

/// One line per option in the order they were added, --help last.
std::string optionLines(const CLI::App& cmd) {
  std::string out;
  for (const CLI::Option* o : cmd.get_options())
    if (!hidden(o) && o != cmd.get_help_ptr()) out += optionLine(label(o), o->get_description());
  if (const CLI::Option* help = cmd.get_help_ptr()) out += optionLine(label(help), help->get_description());
  return out;
}

std::string capitalized(std::string text) {
  if (!text.empty()) text[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(text[0])));
  return text;
}

std::string topLevelHelp(const CLI::App& app) {
  std::string out = usageText() + "\n" + app.get_description() + "\n\ncommands:\n";
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    out += optionLine(sub->get_name(), sub->get_description());
  return out + "\noptions:\n" + optionLines(app);
}

std::string commandHelp(const CLI::App& cmd) {
  return synopsis(cmd) + "\n" + capitalized(cmd.get_description()) + ".\n\n" + optionLines(cmd);
}

/// A name without its leading dashes, so that `--x` is not "close" to `--y`.
std::string_view undashed(std::string_view name) {
  size_t at = name.find_first_not_of('-');
  return at == std::string_view::npos ? std::string_view() : name.substr(at);
}

std::string unknownOption(const std::string& name, const CLI::App& cmd) {
  std::vector<std::string> names;
  for (const CLI::Option* o : cmd.get_options())
    if (!hidden(o))
      for (const std::string& l : o->get_lnames()) names.push_back(l);
  std::optional<std::string> close = api::closestName(undashed(name), names);
  return fmt::format("unknown option '{}'{}", name, close ? "; did you mean '--" + *close + "'?" : "");
}

/// `-0.5` is a value (of `--lr`), not an option.
bool looksLikeOption(const std::string& a) {
  return a.size() > 1 && a[0] == '-' && !std::isdigit(static_cast<unsigned char>(a[1])) && a[1] != '.';
}

/// Checks the options in `argv[i]...` against `cmd`, up to its first
/// positional argument (`stopAtPositional`: the command's name) or the end;
/// returns the index of that argument or an error: an unknown option, or a
/// second positional (each command takes one MODEL.nn). Notes --help and
/// --version in `asksForHelp`.
std::variant<int, std::string> scanOptions(const CLI::App& cmd, int argc, char** argv, int i, bool stopAtPositional,
                                           int& positionals, bool& asksForHelp) {
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      positionals += argc - i - 1;
      return argc;
    }
    if (!looksLikeOption(a)) {
      if (stopAtPositional) return i;
      ++positionals;
      if (positionals > 1) return fmt::format("unexpected argument '{}': nnjit {} takes one MODEL.nn", a, cmd.get_name());
      continue;
    }
    size_t eq = a.find('=');
    std::string name = a.substr(0, eq);
    const CLI::Option* o = cmd.get_option_no_throw(name);
    if (!o) return unknownOption(name, cmd);
    if (o == cmd.get_help_ptr() || o == cmd.get_version_ptr()) asksForHelp = true;
    if (eq == std::string::npos && takesValue(o)) ++i;  // its value
  }
  return argc;
}

} // namespace

std::string usageText() {
  return "usage: nnjit train   MODEL.nn [--data CSV] [--epochs N] [--batch N] [--lr X] [--seed N]\n"
         "                              [--load P.safetensors] [--save P.safetensors]\n"
         "                              [--save-best P.safetensors] [--patience N] [--plot F.svg]\n"
         "                              [--log text|json] [--threads N] [--dtype f32|f64]\n"
         "       nnjit eval    MODEL.nn --load P.safetensors [--data CSV] [--log text|json]\n"
         "       nnjit predict MODEL.nn --load P.safetensors --data CSV\n"
         "       nnjit check   MODEL.nn\n"
         "       nnjit show    MODEL.nn --graph | --grad | --ir | --asm\n"
         "run 'nnjit COMMAND --help' for a command's options\n";
}

std::string usageOf(const CLI::App& cmd) {
  if (!cmd.get_parent()) return usageText();
  return synopsis(cmd) + fmt::format("run 'nnjit {} --help' for its options\n", cmd.get_name());
}

void useHelpFormatter(CLI::App& app) {
  app.set_help_flag("-h,--help", "print this help");
  app.formatter_fn([](const CLI::App* cmd, std::string, CLI::AppFormatMode) {
    return cmd->get_parent() ? commandHelp(*cmd) : topLevelHelp(*cmd);
  });
}

std::string versionText() {
  api::BuildInfo info = api::buildInfo();
  return fmt::format("nnjit {}\nLLVM {}\nhost CPU {}, {}-bit vectors\n{}", info.version, info.llvmVersion, info.cpu,
                     info.vectorBits,
                     info.mpi.empty() ? "MPI: not built in (one process)" : info.mpi + " (data parallel under mpirun)");
}

std::optional<ArgumentError> checkArguments(const CLI::App& app, int argc, char** argv) {
  int positionals = 0;
  bool help = false;
  std::variant<int, std::string> at = scanOptions(app, argc, argv, 1, true, positionals, help);
  if (auto* message = std::get_if<std::string>(&at)) return ArgumentError{*message, nullptr};
  int i = std::get<int>(at);
  std::vector<std::string> names;
  const CLI::App* cmd = nullptr;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    names.push_back(sub->get_name());
    if (i < argc && sub->get_name() == argv[i]) cmd = sub;
  }
  if (i >= argc) {
    if (help) return std::nullopt;
    return ArgumentError{"no command given; the commands are train, eval, predict, check and show", nullptr};
  }
  if (!cmd) {
    std::optional<std::string> close = api::closestName(argv[i], names);
    return ArgumentError{fmt::format("unknown command '{}'{}", argv[i], close ? "; did you mean '" + *close + "'?" : ""),
                         nullptr};
  }
  at = scanOptions(*cmd, argc, argv, i + 1, false, positionals, help);
  if (auto* message = std::get_if<std::string>(&at)) return ArgumentError{*message, cmd};
  if (positionals == 0 && !help) return ArgumentError{fmt::format("nnjit {} needs a MODEL.nn file", cmd->get_name()), cmd};
  return std::nullopt;
}

std::string colorArgument(int argc, char** argv) {
  std::string when = "auto";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") break;
    if (a.rfind("--color=", 0) == 0) when = a.substr(8);
    else if (a == "--color" && i + 1 < argc) when = argv[++i];
  }
  return when;
}

} // namespace nnjit::cli
