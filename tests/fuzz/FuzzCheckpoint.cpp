// FuzzCheckpoint: libFuzzer target for loading a checkpoint into a session — the safetensors
// header (size and nesting limits, JSON), then every check against the model and its optimizer.
#include "Compiler.h"
#include "ModelCheckpoint.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

/// Adam has state tensors and a step count; a scalar, a vector and a matrix param.
const char* const kModel = "param W[2, 3] = 0.5\nparam b[3] = 0\nparam s = 1\n"
                           "loss = sum(square(W)) + sum(b) + square(s)\noptimizer adam(lr = 0.1)\n";

nnjit::Session& session() {
  static std::unique_ptr<nnjit::CompiledModel> cm = [] {
    nnjit::DiagnosticEngine diags("fuzz.nn", kModel);
    nnjit::CompileOptions options;
    options.trainStep = true;
    auto compiled = nnjit::compileModel(kModel, "fuzz.nn", options, diags);
    if (!compiled) std::abort();  // the harness itself is broken
    return compiled;
  }();
  static nnjit::Session s(*cm);
  return s;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto tensors = nnjit::parseSafetensors(bytes, "fuzz.safetensors");
  if (tensors) (void)nnjit::loadCheckpointFrom(session(), *tensors, "fuzz.safetensors");
  return 0;
}
