// CsvHeaderTest: a CSV header that names the inputs' columns binds them by name, through the real binary.
#include "Helpers.h"

using namespace nnjit::e2e;

namespace {

const char* const kModel =
    "data \"d.csv\"\ninput x[batch, 4]\ninput label[batch] : class(3)\nparam W[4, 3] = 0.1\nparam b[3] = 0\n"
    "y = softmax(x @ W + b)\nloss = cross_entropy(x @ W + b, label)\nmetric acc = accuracy(y, label)\noutput y\n"
    "optimizer sgd(lr = 0.05)\ntrain(epochs = 3, batch = 16, shuffle = 7, test = 20)\n";

/// Iris's rows under `header`, each made of its fields at `order` (quoted when `quote`).
std::string rewriteIris(const Scratch& s, const std::string& header, const std::vector<int>& order,
                        bool quote = false) {
  std::vector<std::string> lines = textLines(s.read("iris.csv"));
  std::string out = header.empty() ? "" : header + "\n";
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<std::string> f;
    std::istringstream row(lines[i]);
    for (std::string cell; std::getline(row, cell, ',');) f.push_back(quote ? "\"" + cell + "\"" : cell);
    for (size_t k = 0; k < order.size(); ++k) out += (k ? "," : "") + f[order[k]];
    out += "\n";
  }
  return out;
}

/// The losses and metrics of a JSON log, without the times.
std::vector<std::string> figures(const std::string& out) {
  std::vector<std::string> result;
  for (nlohmann::json j : jsonLines(out)) {
    j.erase("ms");
    j.erase("compile_ms");
    j.erase("train_ms");
    result.push_back(j.dump());
  }
  return result;
}

Output train(const Scratch& s, const std::string& csv) {
  return s.nnjit({"train", "m.nn", "--data", csv, "--log", "json"});
}

/// A scratch folder with iris.csv and the model, and the model's run on iris as it is.
struct Iris {
  Scratch s;
  Output plain;
  Iris() {
    s.copy("examples/iris.csv", "iris.csv");
    s.write("m.nn", kModel);
    plain = train(s, "iris.csv");
  }
};

} // namespace

TEST_CASE("csv header: columns named after the inputs bind by name, in any order", "[e2e][csv-header]") {
  Iris iris;
  const Scratch& s = iris.s;
  INFO(iris.plain.err);
  REQUIRE(iris.plain.status == 0);
  s.write("reordered.csv", rewriteIris(s, "label,x3,x1,x0,x2", {4, 3, 1, 0, 2}));
  Output reordered = train(s, "reordered.csv");
  INFO(reordered.err);
  REQUIRE(reordered.status == 0);
  CHECK(figures(reordered.out) == figures(iris.plain.out));

  SECTION("quoted numbers and quoted names, as spreadsheets write them, read the same") {
    s.write("quoted.csv", rewriteIris(s, "\"x0\",\"x1\", \"x2\" ,\"x3\",\"label\"", {0, 1, 2, 3, 4}, true));
    Output quoted = train(s, "quoted.csv");
    INFO(quoted.err);
    REQUIRE(quoted.status == 0);
    CHECK(figures(quoted.out) == figures(iris.plain.out));
  }
  SECTION("predict reads the output's inputs by name too") {
    REQUIRE(s.nnjit({"train", "m.nn", "--data", "iris.csv", "--save", "p.safetensors"}).status == 0);
    Output byPosition = s.nnjit({"predict", "m.nn", "--load", "p.safetensors", "--data", "iris.csv"});
    REQUIRE(byPosition.status == 0);
    s.write("inputs.csv", rewriteIris(s, "x3,x2,x1,x0", {3, 2, 1, 0}));
    Output byName = s.nnjit({"predict", "m.nn", "--load", "p.safetensors", "--data", "inputs.csv"});
    INFO(byName.err);
    REQUIRE(byName.status == 0);
    CHECK(byName.out == byPosition.out);
  }
}

TEST_CASE("csv header: names that are not the inputs' bind by position, as iris's do", "[e2e][csv-header]") {
  Iris iris;
  REQUIRE(iris.plain.status == 0);
  iris.s.write("none.csv", rewriteIris(iris.s, "", {0, 1, 2, 3, 4}));
  Output headerless = train(iris.s, "none.csv");
  INFO(headerless.err);
  REQUIRE(headerless.status == 0);
  CHECK(figures(headerless.out) == figures(iris.plain.out));
}

TEST_CASE("csv header: a header of another width than the rows is an error naming both counts", "[e2e][csv-header]") {
  Iris iris;
  iris.s.write("short.csv", rewriteIris(iris.s, "a,b,c", {0, 1, 2, 3, 4}));
  Output o = train(iris.s, "short.csv");
  CHECK(o.status == 1);
  CHECK(contains(o.err, "short.csv:1: error: the header has 3 columns, but the first row (line 2) has 5"));
}
