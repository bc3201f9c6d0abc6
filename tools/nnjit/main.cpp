// main: the `nnjit` command line — parses arguments and hands off to a subcommand.
#include "Commands.h"
#include "Output.h"
#include "Usage.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <new>
#include <regex>

using namespace nnjit;
using namespace nnjit::cli;

namespace {

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
      "");
}

/// `--lr 0` freezes the params, which tests of a model's plumbing use.
/// A learning rate: a finite number, not negative (as PyTorch's optimizers require).
CLI::Validator learningRate() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        double v = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v))
          return fmt::format("'{}' is not a finite number", text);
        return v < 0 ? fmt::format("{} must not be negative", text) : "";
      },
      "");
}

/// `--save ''` would otherwise read as "no --save" and silently save nothing.
CLI::Validator nonEmptyPath() {
  return CLI::Validator([](std::string& text) { return text.empty() ? std::string("the path is empty") : ""; }, "");
}

/// One of `names`, in any case, stored as its index: `--log text|json` into
/// a LogFormat. Only the names are accepted (not "1" for json), and a near
/// miss gets a suggestion.
CLI::Validator choice(std::vector<std::string> names) {
  return CLI::Validator(
      [names](std::string& text) -> std::string {
        std::string lower = text;
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
        for (size_t i = 0; i < names.size(); ++i)
          if (lower == names[i]) {
            text = std::to_string(i);
            return "";
          }
        std::string all;
        for (size_t i = 0; i < names.size(); ++i)
          all += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
        std::optional<std::string> close = api::closestName(lower, names);
        return fmt::format("'{}' is not {}{}", text, all, close ? "; did you mean '" + *close + "'?" : "");
      },
      "");
}

void addModel(CLI::App* cmd, Options& o) {
  cmd->add_option("model", o.model, "the model file")->required()->type_name("MODEL.nn");
}

void addLog(CLI::App* cmd, Options& o) {
  // The order of LogFormat's values.
  cmd->add_option("--log", o.log, "log as text (the default) or json, one object per line")
      ->transform(choice({"text", "json"}))
      ->type_name("text|json");
}

void addDtype(CLI::App* cmd, Options& o) {
  // The order of api::DType's values.
  cmd->add_option("--dtype", o.dtype, "compute in float32 (the default) or float64")
      ->transform(choice({"f32", "f64"}))
      ->type_name("f32|f64");
}

/// One path per --data: repeated for several IDX files, never eating MODEL.nn.
CLI::Option* addData(CLI::App* cmd, Options& o, const char* description) {
  return cmd->add_option("--data", o.data, description)
      ->check(nonEmptyPath())
      ->allow_extra_args(false)
      ->type_name("CSV");
}

void addThreads(CLI::App* cmd, Options& o) {
  cmd->add_option("--threads", o.threads, "threads to run on (default: one per core)")
      ->check(wholeNumber(1, 1024))->type_name("N");
}

void addSeed(CLI::App* cmd, Options& o) {
  cmd->add_option("--seed", o.seed, "seed of the params' random initializers (default 0)")
      ->check(wholeNumber(0, UINT64_MAX))->type_name("N");
}

/// Accepted everywhere; colorArgument() reads it before parsing, so that errors in the parse are coloured too.
void addColor(CLI::App* cmd, Options& o) {
  cmd->add_option("--color", o.color, "colour diagnostics: auto (on a terminal), always, never")
      ->transform(choice({"auto", "always", "never"}))
      ->type_name("WHEN");
}

void buildTrain(CLI::App& app, Options& o) {
  CLI::App* cmd = app.add_subcommand("train", "compile the model and train it");
  addModel(cmd, o);
  addData(cmd, o, "training data (CSV or IDX; once per file), instead of the model's 'data'");
  cmd->add_option("--epochs", o.epochs, "epochs to train (overrides train(epochs = ...))")
      ->check(wholeNumber(0, api::kMaxEpochs))->type_name("N");
  cmd->add_option("--batch", o.batch, "rows per batch (overrides train(batch = ...))")
      ->check(wholeNumber(1, INT32_MAX))->type_name("N");
  cmd->add_option("--lr", o.lr, "learning rate (overrides the optimizer's lr)")->check(learningRate())->type_name("X");
  addSeed(cmd, o);
  cmd->add_option("--load", o.load, "resume from a checkpoint")->check(nonEmptyPath())->type_name("P.safetensors");
  cmd->add_option("--save", o.save, "save params and optimizer state after training")
      ->check(nonEmptyPath())->type_name("P.safetensors");
  cmd->add_option("--save-best", o.saveBest, "save the state after each epoch whose test loss is the lowest so far")
      ->check(nonEmptyPath())->type_name("P.safetensors");
  cmd->add_option("--patience", o.patience,
                  "stop after N epochs without a lower test loss (overrides train(patience = ...))")
      ->check(wholeNumber(1, api::kMaxEpochs))->type_name("N");
  cmd->add_option("--plot", o.plot, "write the loss and metrics per epoch as an SVG line chart when training ends")
      ->check(nonEmptyPath())->type_name("F.svg");
  addLog(cmd, o);
  cmd->add_option("--log-every", o.logEvery,
                  "log epochs 1, N, 2N, ... and the last (default: all, or about 50 lines of a text log over 100 epochs)")
      ->check(wholeNumber(1, api::kMaxEpochs))->type_name("N");
  addThreads(cmd, o);
  addDtype(cmd, o);
  cmd->add_flag("--time-report", o.timeReport, "print the time each compiler stage took to stderr");
  addColor(cmd, o);
}

void buildOthers(CLI::App& app, Options& o) {
  CLI::App* eval = app.add_subcommand("eval", "loss and metrics of a checkpoint on all rows of the data");
  addModel(eval, o);
  eval->add_option("--load", o.load, "the checkpoint to evaluate")->required()->check(nonEmptyPath())
      ->type_name("P.safetensors");
  addData(eval, o, "data to evaluate on (CSV or IDX; once per file), instead of the model's 'data'");
  addLog(eval, o);
  addThreads(eval, o);
  addDtype(eval, o);
  addColor(eval, o);

  CLI::App* predict = app.add_subcommand("predict", "write the model's output for each data row as CSV");
  addModel(predict, o);
  predict->add_option("--load", o.load, "the trained checkpoint")->required()->check(nonEmptyPath())
      ->type_name("P.safetensors");
  // Needed when the model has inputs, which only the model file tells: checked in runPredict.
  addData(predict, o, "rows to predict (CSV or IDX; once per file; needed when the model has inputs)")->group(kRequiredGroup);
  addThreads(predict, o);
  addDtype(predict, o);
  addColor(predict, o);

  CLI::App* check = app.add_subcommand("check", "check shapes and gradients against finite differences");
  addModel(check, o);
  addData(check, o, "data to check on (CSV or IDX; once per file), instead of the model's 'data'");
  addSeed(check, o);
  addColor(check, o);
  // A test hook, hidden from --help: proves that check catches a wrong gradient rule.
  check->add_option("--test-break-gradient", o.breakGradient)->group("");

  CLI::App* show = app.add_subcommand("show", "print the graph, its gradient, the LLVM IR or assembly");
  addModel(show, o);
  auto* graph = show->add_flag("--graph", o.graph, "the forward graph as Graphviz dot");
  auto* grad = show->add_flag("--grad", o.grad, "the forward and gradient graph as Graphviz dot");
  auto* ir = show->add_flag("--ir", o.ir, "the optimized LLVM IR");
  auto* assembly = show->add_flag("--asm", o.assembly, "the native assembly");
  auto* summary = show->add_flag("--summary", o.summary,
                                 "params, values and shapes, the arithmetic of a train step and the session's memory");
  auto* emit = show->add_option("--emit", o.emit, "the output of one compiler stage as text: ast, graph, grad, opt, "
                                                  "schedule, ir (before LLVM's optimizer) or asm")
                   ->transform(choice(api::emitStages()))
                   ->type_name("STAGE");
  std::vector<CLI::Option*> oneOf{graph, grad, ir, assembly, summary, emit};
  for (size_t i = 0; i < oneOf.size(); ++i) {
    oneOf[i]->group(kOneOfGroup);
    for (size_t j = i + 1; j < oneOf.size(); ++j) oneOf[i]->excludes(oneOf[j]);
  }
  show->add_flag("--expand", o.expand, "with --graph or --grad: each builtin or fn call as a cluster of its ops, "
                                      "not one box");
  addDtype(show, o);
  addColor(show, o);
}

/// A wrong command line: the message, then the usage of the command it was for (of all, without one).
int usageError(const std::string& message, const CLI::App& cmd) {
  report({fileError("", message)});  // escaped like every diagnostic: arguments may hold anything
  fmt::print(stderr, "{}", usageOf(cmd));
  return kUsage;
}

int dispatch(CLI::App& app, const Options& o) {
  if (app.got_subcommand("train")) return runTrain(o);
  if (app.got_subcommand("eval")) return runEval(o);
  if (app.got_subcommand("predict")) return runPredict(o);
  if (app.got_subcommand("check")) return runCheck(o);
  if (o.graph + o.grad + o.ir + o.assembly + o.summary + (o.emit >= 0) == 0)
    return usageError("show needs one of --graph, --grad, --ir, --asm, --summary, --emit STAGE",
                      *app.get_subcommand("show"));
  if (o.expand && !o.graph && !o.grad) return usageError("--expand goes with --graph or --grad", *app.get_subcommand("show"));
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

/// CLI11's "--epochs: 1 required N missing" and "--epochs: At Most 1
/// required but received 2" as sentences.
std::string plainParseError(const std::string& message) {
  static const std::regex missing(R"(^(-[-\w]+): 1 required (\S+) missing$)");
  static const std::regex repeated(R"(^(-[-\w]+): At Most 1 required but received (\d+)$)");
  std::smatch m;
  if (std::regex_match(message, m, missing)) return fmt::format("{} needs a value: {} {}", m[1].str(), m[1].str(), m[2].str());
  if (std::regex_match(message, m, repeated))
    return fmt::format("{} is given {} times; give it once", m[1].str(), m[2].str());
  return message;
}

} // namespace

int commandLine(int argc, char** argv) {
  installCheckedOutput();
  setDiagnosticColour(colorArgument(argc, argv));
  CLI::App app("nnjit compiles the model a .nn file describes to native code with LLVM and\n"
               "trains it, evaluates it, predicts with it or checks its gradients.",
               "nnjit");
  useHelpFormatter(app);
  app.require_subcommand(1);
  Options o;
  app.set_version_flag("--version", versionText, "print nnjit's version, LLVM's and the host CPU");
  addColor(&app, o);
  buildTrain(app, o);
  buildOthers(app, o);
  if (argc <= 1) {
    fmt::print(stderr, "{}", usageText());
    return kUsage;
  }
  if (std::optional<ArgumentError> bad = checkArguments(app, argc, argv))
    return usageError(bad->message, bad->command ? *bad->command : app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return finishOutput(app.exit(e));
    std::vector<CLI::App*> in = app.get_subcommands();
    return usageError(plainParseError(e.what()), in.empty() ? app : *in.front());
  }
  return finishOutput(run(app, o));
}

/// Under mpirun every process of the job runs the same command; the first
/// alone prints the log and writes files. A process that fails ends the whole
/// job with its exit status (MPI_Abort), so none waits for it forever.
int main(int argc, char** argv) {
  api::MpiJob job = api::mpiJob();
  if (job.rank != 0) {
    if (!std::freopen("/dev/null", "w", stdout)) {
      fmt::print(stderr, "nnjit: process {} of the MPI job could not leave the log to process 0: /dev/null did not open\n",
                 job.rank);
      api::endMpiJob(kModelError);
      return kModelError;
    }
    hideWarnings();
  }
  int status = commandLine(argc, argv);
  api::endMpiJob(status);
  return status;
}
