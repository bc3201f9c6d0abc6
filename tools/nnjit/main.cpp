// main: the `nnjit` command line — parses arguments and hands off to a subcommand.
#include "Commands.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

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
  auto* opt = cmd->add_option("--data", o.data, "CSV data (instead of the model's 'data' file)")->type_name("CSV");
  if (required) opt->required();
}

void addThreads(CLI::App* cmd, Options& o) {
  cmd->add_option("--threads", o.threads, "threads the compiled code runs on (default: one per core; any count gives the same bits)")
      ->check(CLI::Range(1, 1024))->type_name("N");
}

void buildTrain(CLI::App& app, Options& o) {
  CLI::App* cmd = app.add_subcommand("train", "compile the model and train it");
  addModel(cmd, o);
  addData(cmd, o, false);
  cmd->add_option("--epochs", o.epochs, "epochs to train (overrides train(epochs = ...))")
      ->check(CLI::NonNegativeNumber)->type_name("N");
  cmd->add_option("--batch", o.batch, "rows per batch (overrides train(batch = ...))")
      ->check(CLI::PositiveNumber)->type_name("N");
  cmd->add_option("--lr", o.lr, "learning rate (overrides the optimizer's lr)")->type_name("X");
  cmd->add_option("--seed", o.seed, "seed for the params' random initializers (default 0)")->type_name("N");
  cmd->add_option("--load", o.load, "resume from a checkpoint")->type_name("P.safetensors");
  cmd->add_option("--save", o.save, "save params and optimizer state after training")->type_name("P.safetensors");
  addLog(cmd, o);
  addThreads(cmd, o);
  addDtype(cmd, o);
  cmd->add_flag("--time-report", o.timeReport, "print the time each compiler stage took to stderr");
}

void buildOthers(CLI::App& app, Options& o) {
  CLI::App* eval = app.add_subcommand("eval", "loss and metrics of a checkpoint over all rows of the data");
  addModel(eval, o);
  eval->add_option("--load", o.load, "the checkpoint to evaluate")->required()->type_name("P.safetensors");
  addData(eval, o, false);
  addLog(eval, o);
  addThreads(eval, o);
  addDtype(eval, o);

  CLI::App* predict = app.add_subcommand("predict", "write the model's output for each data row as CSV");
  addModel(predict, o);
  predict->add_option("--load", o.load, "the trained checkpoint")->required()->type_name("P.safetensors");
  addData(predict, o, true);
  addThreads(predict, o);
  addDtype(predict, o);

  CLI::App* check = app.add_subcommand("check", "check shapes and every param's gradient against finite differences");
  addModel(check, o);
  addData(check, o, false);
  check->add_option("--seed", o.seed, "seed for the params' random initializers (default 0)")->type_name("N");
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
  fmt::print(stderr, "nnjit: error: {}\n{}", message, kUsageText);
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

} // namespace

int main(int argc, char** argv) {
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
    if (e.get_exit_code() == 0) return app.exit(e);
    return usageError(e.what());
  }
  try {
    return dispatch(app, o);
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "nnjit: error: out of memory\n");
    return kModelError;
  } catch (const std::exception& e) {
    // Never a trace: anything unexpected is still one line and an error status.
    fmt::print(stderr, "nnjit: error: internal error: {}\n", e.what());
    return kModelError;
  }
}
