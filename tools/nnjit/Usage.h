// Usage: what `nnjit` says about its own command line — help, usage, --version and unknown words.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

namespace nnjit::cli {

/// Option groups the help lists apart: options a command needs, and flags
/// of which it needs exactly one (`show --graph | --grad | --ir | --asm`).
inline const char* const kRequiredGroup = "required";
inline const char* const kOneOfGroup = "one of";

/// The usage of every command, as the contract writes it, and how to learn more.
std::string usageText();

/// `usage: nnjit COMMAND ...` for one command (the top-level usage for the app itself).
std::string usageOf(const CLI::App& cmd);

/// Makes `app` and the subcommands added after this call print hand-written
/// help: usage, description and one line per option, nothing of CLI11's own.
void useHelpFormatter(CLI::App& app);

/// `nnjit --version`: nnjit's version, LLVM's, the host CPU and its vectors (no final newline).
std::string versionText();

/// What CLI11 would word badly, found before it parses: an unknown command,
/// an unknown option, a missing model or an extra argument, as a message with a suggestion
/// when one is close ("unknown command 'trian'; did you mean 'train'?").
/// Also names the command it was in (or none), for the usage after it.
struct ArgumentError {
  std::string message;
  const CLI::App* command = nullptr;
};
std::optional<ArgumentError> checkArguments(const CLI::App& app, int argc, char** argv);

/// The value of a `--color WHEN` / `--color=WHEN` anywhere before `--`, or "auto".
std::string colorArgument(int argc, char** argv);

} // namespace nnjit::cli
