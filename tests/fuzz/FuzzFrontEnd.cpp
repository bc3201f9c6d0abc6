// FuzzFrontEnd: libFuzzer target for the `.nn` front end — lex, parse, lower, shapes, autodiff, codegen.
#include "Compiler.h"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string source(reinterpret_cast<const char*>(data), size);
  nnjit::DiagnosticEngine diags("fuzz.nn", source);
  std::optional<nnjit::Model> model = nnjit::parseModel(source, "fuzz.nn", diags);
  if (!model || model->loss == nnjit::kNoNode) return 0;
  // A valid model goes on through autodiff, the passes and IR generation
  // (verified); the JIT itself is LLVM's and would only slow the search.
  nnjit::CompileOptions options;
  options.trainStep = model->optimizer.has_value();
  options.evaluate = true;
  options.predict = model->output.has_value();
  options.gradients = true;
  options.jit = false;
  nnjit::compileModel(std::move(*model), options, diags);
  return 0;
}
