// Declarations: what a model declares, without its graph — the inputs to feed, the params to
// initialize and checkpoint, the figures it reports. The runtime knows a model only through these.
#pragma once

#include "Diagnostics.h"
#include "Shape.h"

#include <optional>
#include <string>
#include <vector>

namespace nnjit {

struct InputDecl {
  std::string name;
  Shape shape;
  int64_t numClasses = 0;  // > 0 for a class label
  SourceLoc loc;
  /// Columns this input takes in a CSV row.
  int64_t width() const { return shape.staticElements(); }
};

struct InitSpec {
  enum class Kind { Constant, Normal, TruncatedNormal, Uniform, Glorot, He, List };
  Kind kind = Kind::Constant;
  double a = 0, b = 0;          // value, or mean/std, or lo/hi
  std::vector<double> values;   // List, row-major
};

struct ParamDecl {
  std::string name;
  Shape shape;
  InitSpec init;
  SourceLoc loc;
};

/// A tensor kept between steps besides the params: optimizer state
/// (`adam.m.W`) or a model's running statistics (`batch_norm.mean.GAMMA`).
struct StateDecl {
  std::string name;
  Shape shape;
  double initial = 0;
};

struct Declarations {
  std::string file;  // the `.nn` path as given
  std::vector<InputDecl> inputs;
  std::vector<ParamDecl> params;
  std::vector<std::string> metrics;  // names, in source order
  std::optional<std::string> output;  // its name
  bool hasLoss = false;
  std::string optimizer;  // its kind ("adam"); empty without one
};

} // namespace nnjit
