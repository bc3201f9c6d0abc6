// FuzzCorpusTest: every seed of FuzzFrontEnd's corpus through the same stages the fuzzer runs, in the
// ordinary suite, so a seed added for a fixed crash (deep chains, ranks, many errors) stays fixed.
#include "Compiler.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace nnjit;

TEST_CASE("fuzz corpus: every front-end seed compiles or is refused with diagnostics", "[fuzz-corpus]") {
  std::filesystem::path dir = std::filesystem::path(NNJIT_SOURCE_DIR) / "tests/fuzz/corpus/nn";
  int seeds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".nn") continue;
    ++seeds;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    std::string source = text.str();
    INFO(entry.path().filename().string());
    DiagnosticEngine diags("fuzz.nn", source);
    std::optional<Model> model = parseModel(source, "fuzz.nn", diags);
    CHECK((model.has_value() || diags.hasErrors()));
    if (!model || model->loss == kNoNode) continue;
    // As FuzzFrontEnd does: on through autodiff, the passes and verified IR, without the JIT.
    CompileOptions options;
    options.trainStep = model->optimizer.has_value();
    options.evaluate = true;
    options.predict = model->output.has_value();
    options.gradients = true;
    options.jit = false;
    bool compiled = compileModel(std::move(*model), options, diags) != nullptr;
    CHECK((compiled || diags.hasErrors()));
  }
  CHECK(seeds >= 10);
}
