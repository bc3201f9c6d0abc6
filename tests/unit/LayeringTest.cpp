// LayeringTest: the runtime sees the compiler through CompiledModel.h alone (and the plain headers
// it is made of), never the graph; the CLI includes only the public API and its own headers.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

const fs::path kSource = NNJIT_SOURCE_DIR;

/// The names in `#include "NAME"` lines of `file`.
std::vector<std::string> quotedIncludes(const fs::path& file) {
  std::ifstream in(file);
  std::vector<std::string> out;
  const std::string directive = "#include \"";
  for (std::string line; std::getline(in, line);)
    if (line.rfind(directive, 0) == 0) out.push_back(line.substr(directive.size(), line.find('"', directive.size()) - directive.size()));
  return out;
}

std::vector<fs::path> sourcesIn(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const fs::directory_entry& e : fs::recursive_directory_iterator(dir))
    if (e.path().extension() == ".h" || e.path().extension() == ".cpp") out.push_back(e.path());
  return out;
}

/// Every compiler header `dir`'s files reach, through runtime headers and
/// through each other, with the file that first included it.
std::vector<std::pair<std::string, std::string>> compilerHeadersReached(const fs::path& dir) {
  std::vector<std::pair<std::string, std::string>> reached;
  std::set<std::string> seen;
  std::vector<std::pair<fs::path, std::string>> pending;
  for (const fs::path& f : sourcesIn(dir)) pending.push_back({f, f.filename().string()});
  while (!pending.empty()) {
    auto [file, from] = pending.back();
    pending.pop_back();
    for (const std::string& name : quotedIncludes(file)) {
      if (fs::exists(dir / name)) continue;  // the layer's own files are scanned anyway
      fs::path header = kSource / "compiler" / name;
      if (!fs::exists(header) || !seen.insert(name).second) continue;
      reached.push_back({name, from});
      pending.push_back({header, name});
    }
  }
  return reached;
}

} // namespace

TEST_CASE("layering: the runtime includes no compiler header but CompiledModel.h and what it is made of",
          "[layering]") {
  const std::set<std::string> allowed{"CompiledModel.h", "Declarations.h", "DType.h",  "Diagnostics.h",
                                      "Shape.h",         "Jit.h",          "Workers.h", "InternalError.h"};
  std::vector<std::pair<std::string, std::string>> reached = compilerHeadersReached(kSource / "runtime");
  REQUIRE(!reached.empty());  // the scan found the runtime's includes at all
  for (const auto& [header, from] : reached) {
    INFO(header << " is included by " << from);
    CHECK(allowed.count(header) == 1);
  }
}

TEST_CASE("layering: the command line includes the public API and its own headers only", "[layering]") {
  const fs::path tool = kSource / "tools" / "nnjit";
  std::vector<fs::path> files = sourcesIn(tool);
  REQUIRE(files.size() > 4);
  for (const fs::path& f : files)
    for (const std::string& name : quotedIncludes(f)) {
      INFO(f.filename().string() << " includes " << name);
      CHECK((name.rfind("nnjit/", 0) == 0 || fs::exists(tool / name)));
    }
}
