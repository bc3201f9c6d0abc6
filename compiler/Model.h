// Model: what LowerToGraph makes of a `.nn` file — the graph plus its declarations.
#pragma once

#include "Declarations.h"
#include "Graph.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace nnjit {

/// A declaration and the leaf that stands for it in the graph.
struct InputInfo : InputDecl {
  NodeId node = kNoNode;
};

struct ParamInfo : ParamDecl {
  NodeId node = kNoNode;
};

struct NamedValue {
  std::string name;
  NodeId node = kNoNode;
  SourceLoc loc;
};

struct OptimizerSpec {
  std::string kind;                       // sgd, adagrad, rmsprop, adam, adamw
  NodeId lr = kNoNode;                    // scalar; may depend on `epoch`
  std::map<std::string, double> hyper;    // every other argument, defaults filled
  SourceLoc loc;
};

struct TestSplit {
  enum class Kind { None, Count, Fraction, File };
  Kind kind = Kind::None;
  int64_t count = 0;
  double fraction = 0;
  std::vector<std::string> paths;  // relative to the `.nn` file: one CSV, or IDX files
};

/// The most epochs `train(epochs = N)` may ask for (the API's kMaxEpochs).
constexpr int64_t kMostEpochs = 1'000'000'000'000;

struct TrainSpec {
  int64_t epochs = 1;
  int64_t batch = 0;                     // 0: all rows
  std::optional<uint64_t> shuffleSeed;   // none: no shuffle
  TestSplit test;
  int64_t patience = 0;                  // 0: no early stopping
  SourceLoc patienceLoc;                 // the `patience` argument, for diagnostics about it
  SourceLoc testLoc;                     // the `test` argument, likewise
  SourceLoc loc;
};

/// A tensor the model keeps between steps besides its params (batch norm's
/// running statistics): a State leaf, set to `update` after each train step.
struct ModelState : StateDecl {  // e.g. batch_norm.mean.GAMMA
  NodeId leaf = kNoNode;
  NodeId update = kNoNode;  // its value after a step, in the graph's train mode
};

struct Model {
  std::string file;       // the `.nn` path as given
  Graph graph;
  std::vector<std::string> dataPaths;  // as written, relative to the `.nn` file
  std::vector<SourceLoc> dataLocs;
  std::vector<InputInfo> inputs;
  std::vector<ParamInfo> params;
  std::vector<ModelState> states;
  std::vector<NamedValue> values;  // `NAME = EXPR` statements, in source order
  NodeId loss = kNoNode;
  SourceLoc lossLoc;
  std::vector<NamedValue> metrics;
  std::optional<NamedValue> output;
  std::optional<OptimizerSpec> optimizer;
  std::optional<TrainSpec> train;
};

/// `model` without its graph: what the runtime needs of it.
Declarations declarationsOf(const Model& model);

} // namespace nnjit
