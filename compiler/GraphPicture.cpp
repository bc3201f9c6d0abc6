// GraphPicture: the model's forward and gradient graphs as a Graphviz picture (show --graph / --grad).
#include "Autodiff.h"
#include "Builder.h"
#include "Compiler.h"
#include "GraphPrinter.h"
#include "TrainingMode.h"

namespace nnjit {

std::string modelDot(const Model& model, bool withGradients, DiagnosticEngine& diags, bool expandCalls) {
  Graph g = model.graph;
  Builder b(g);
  ModeSpecializer training(g);
  NodeId loss = training(model.loss, Mode::train());
  std::vector<NodeId> roots;
  std::vector<std::string> names;
  if (model.loss != kNoNode) {
    roots.push_back(loss);
    names.push_back("loss");
  }
  for (const NamedValue& m : model.metrics) {
    roots.push_back(training(m.node, Mode::train()));
    names.push_back("metric " + m.name);
  }
  if (model.output) {
    roots.push_back(training(model.output->node, Mode::eval()));
    names.push_back("output " + model.output->name);
  }
  DotLabels labels;
  labels.expandCalls = expandCalls;
  for (const NamedValue& v : model.values) labels.values.emplace(training(v.node, Mode::train()), v.name);
  labels.firstGradient = g.size();
  if (withGradients && model.loss != kNoNode) {
    std::vector<NodeId> params;
    for (const ParamInfo& p : model.params) params.push_back(p.node);
    std::vector<NodeId> grads = differentiate(b, loss, params, diags);
    for (size_t i = 0; i < grads.size(); ++i) {
      roots.push_back(grads[i]);
      names.push_back("d loss / d " + model.params[i].name);
    }
  }
  return printDot(g, roots, names, model.file, labels);
}

} // namespace nnjit
