// main: the `nnjit` command line — parses arguments and hands off to a subcommand.
#include "Commands.h"
#include "Output.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <new>

using namespace nnjit;
using namespace nnjit::cli;

namespace {

const char* const kUsageText =
    "usage: nnjit train   MODEL.nn [--data CSV] [--epochs N] [--batch N] [--lr X] [--seed N]\n"
    "                              [--load P.safetensors] [--save P.safetensors]\n"
    "                              [--log text|json] [--threads N] [--dtype f32|f64]\n"
    "       nnjit eval    MODEL.nn --load P.safetensors [--data CSV] [--log text|json]\n"
    "       nnjit predict MODEL.nn --load P.safetensors --data CSV\n"
    "       nnjit check   MODEL.nn\n"
    "       nnjit show    MODEL.nn --graph | --grad | --ir | --asm\n"
    "run 'nnjit COMMAND --help' for a command's options\n";

/// A whole number from `lo` to `hi`, written as plain digits: no sign, no
/// exponent, no rounding or saturation ("--seed -1" is not 2^64 - 1).
CLI::Validator wholeNumber(uint64_t lo, uint64_t hi) {
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        uint64_t v = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
        if (digits && ec == std::errc() && end == text.data() + text.size() && v >= lo && v <= hi) return "";
        return fmt::format("'{}' is not a whole number from {} to {}", text, lo, hi);
      },
      "N");
}

/// `--lr 0` freezes the params, which tests of a model's plumbing use.
CLI::Validator finiteNumber() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        double v = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (!text.empty() && ec == std::errc() && end == text.data() + text.size() && std::isfinite(v))
          return "";
        return fmt::format("'{}' is not a finite number", text);
      },
      "X");
}

/// `--save ''` would otherwise read as "no --save" and silently save nothing.
CLI::Validator nonEmptyPath() {
  return CLI::Validator([](std::string& text) { return text.empty() ? std::string("the path is empty") : ""; },
                        "PATH");
}

void addModel(CLI::App* cmd, Options& o) {
  cmd->add_option("model", o.model, "the .nn model file")->required()->type_name("MODEL.nn");
}

void addLog(CLI::App* cmd, Options& o) {
  static const std::map<std::string, LogFormat> formats{{"text", LogFormat::Text}, {"json", LogFormat::Json}};
  cmd->add_option("--log", o.log, "log format: text (default) or json (one object per line)")
      ->transform(CLI::CheckedTransformer(formats, CLI::ignore_case))
      ->type_name("text|json");
}

void addDtype(CLI::App* cmd, Options& o) {
  static const std::map<std::string, api::DType> types{{"f32", api::DType::F32}, {"f64", api::DType::F64}};
  cmd->add_option("--dtype", o.dtype, "compute in float32 (default) or float64")
      ->transform(CLI::CheckedTransformer(types, CLI::ignore_case))
      ->type_name("f32|f64");
}

void addData(CLI::App* cmd, Options& o, bool required) {
  // One path per --data: repeated for several IDX files, never eating MODEL.nn.
  auto* opt = cmd->add_option("--data", o.data, "CSV data, or an IDX file, repeated for each (instead of the model's 'data')")
                  ->check(nonEmptyPath())
                  ->allow_extra_args(false)
                  ->type_name("CSV");
  if (required) opt->required();
}

void addThreads(CLI::App* cmd, Options& o) {
  cmd->add_option("--threads", o.threads, "threads the compiled code runs on (default: one per core; any count gives the same bits)")
      ->check(wholeNumber(1, 1024))->type_name("N");
}

void addSeed(CLI::App* cmd, Options& o) {
  cmd->add_option("--seed", o.seed, "seed for the params' random initializers (default 0)")
      ->check(wholeNumber(0, UINT64_MAX))->type_name("N");
}

void buildTrain(CLI::App& app, Options& o) {
  CLI::App* cmd = app.add_subcommand("train", "compile the model and train it");
  addModel(cmd, o);
  addData(cmd, o, false);
  cmd->add_option("--epochs", o.epochs, "epochs to train (overrides train(epochs = ...))")
      ->check(wholeNumber(0, api::kMaxEpochs))->type_name("N");
  cmd->add_option("--batch", o.batch, "rows per batch (overrides train(batch = ...))")
      ->check(wholeNumber(1, INT32_MAX))->type_name("N");
  cmd->add_option("--lr", o.lr, "learning rate (overrides the optimizer's lr)")->check(finiteNumber())->type_name("X");
  addSeed(cmd, o);
  cmd->add_option("--load", o.load, "resume from a checkpoint")->check(nonEmptyPath())->type_name("P.safetensors");
  cmd->add_option("--save", o.save, "save params and optimizer state after training")
      ->check(nonEmptyPath())->type_name("P.safetensors");
  addLog(cmd, o);
  addThreads(cmd, o);
  addDtype(cmd, o);
  cmd->add_flag("--time-report", o.timeReport, "print the time each compiler stage took to stderr");
}

void buildOthers(CLI::App& app, Options& o) {
  CLI::App* eval = app.add_subcommand("eval", "loss and metrics of a checkpoint over all rows of the data");
  addModel(eval, o);
  eval->add_option("--load", o.load, "the checkpoint to evaluate")->required()->check(nonEmptyPath())
      ->type_name("P.safetensors");
  addData(eval, o, false);
  addLog(eval, o);
  addThreads(eval, o);
  addDtype(eval, o);

  CLI::App* predict = app.add_subcommand("predict", "write the model's output for each data row as CSV");
  addModel(predict, o);
  predict->add_option("--load", o.load, "the trained checkpoint")->required()->check(nonEmptyPath())
      ->type_name("P.safetensors");
  addData(predict, o, false);  // required when the model has inputs
  addThreads(predict, o);
  addDtype(predict, o);

  CLI::App* check = app.add_subcommand("check", "check shapes and every param's gradient against finite differences");
  addModel(check, o);
  addData(check, o, false);
  addSeed(check, o);
  // A test hook, hidden from --help: proves that check catches a wrong gradient rule.
  check->add_option("--test-break-gradient", o.breakGradient)->group("");

  CLI::App* show = app.add_subcommand("show", "print the graph, the gradient graph, the LLVM IR or the assembly");
  addModel(show, o);
  auto* graph = show->add_flag("--graph", o.graph, "the forward graph as Graphviz dot");
  auto* grad = show->add_flag("--grad", o.grad, "the forward and gradient graph as Graphviz dot");
  auto* ir = show->add_flag("--ir", o.ir, "the optimized LLVM IR");
  auto* assembly = show->add_flag("--asm", o.assembly, "the native assembly");
  graph->excludes(grad)->excludes(ir)->excludes(assembly);
  grad->excludes(ir)->excludes(assembly);
  ir->excludes(assembly);
  addDtype(show, o);
}

int usageError(const std::string& message) {
  report({fileError("", message)});  // escaped like every diagnostic: arguments may hold anything
  fmt::print(stderr, "{}", kUsageText);
  return kUsage;
}

int dispatch(CLI::App& app, const Options& o) {
  if (app.got_subcommand("train")) return runTrain(o);
  if (app.got_subcommand("eval")) return runEval(o);
  if (app.got_subcommand("predict")) return runPredict(o);
  if (app.got_subcommand("check")) return runCheck(o);
  if (o.graph + o.grad + o.ir + o.assembly == 0) return usageError("show needs one of --graph, --grad, --ir, --asm");
  return runShow(o);
}

/// Runs the command; anything unexpected is still one line and an error status, never a trace.
int run(CLI::App& app, const Options& o) {
  try {
    return dispatch(app, o);
  } catch (const std::bad_alloc&) {
    report({fileError(o.model, "out of memory")});
    return kModelError;
  } catch (const std::exception& e) {
    report({fileError("", std::string("internal error: ") + e.what())});
    return kModelError;
  }
}

} // namespace

int main(int argc, char** argv) {
  installCheckedOutput();
  CLI::App app("nnjit: a JIT compiler for training neural networks described in .nn files", "nnjit");
  app.require_subcommand(1);
  app.footer(kUsageText);
  Options o;
  buildTrain(app, o);
  buildOthers(app, o);
  if (argc <= 1) {
    fmt::print(stderr, "{}", kUsageText);
    return kUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return finishOutput(app.exit(e));
    return usageError(e.what());
  }
  return finishOutput(run(app, o));
}
