// DiagnosticsTest: errors in models and data as `FILE:LINE:COL: error:` with the source
// line and a caret, CSV errors as `FILE:LINE: error:`, and exit status 1.
#include "Helpers.h"

#include <algorithm>
#include <regex>

using namespace nnjit::e2e;

namespace {

const char* kClassModel = "input x[batch, 2]\n"
                          "input label[batch] : class(3)\n"
                          "param W[2, 3] = zeros\n"
                          "loss = cross_entropy(x @ W, label)\n"
                          "optimizer sgd(lr = 0.1)\n"
                          "train(epochs = 1)\n";

/// Trains kClassModel on `csv`; returns the run.
Output trainCsv(Scratch& s, const std::string& csv, std::vector<std::string> extra = {}) {
  s.write("c.nn", kClassModel);
  s.write("d.csv", csv);
  std::vector<std::string> args = {"train", "c.nn", "--data", "d.csv", "--log", "json"};
  args.insert(args.end(), extra.begin(), extra.end());
  return s.nnjit(args);
}

/// The first stderr line starting with `prefix`, or "".
std::string lineStarting(const std::string& err, const std::string& prefix) {
  for (auto& l : textLines(err))
    if (startsWith(l, prefix)) return l;
  return {};
}

bool namesColumn(const std::string& line, int col) {
  return std::regex_search(line, std::regex("(column|field|col)[ #]*" + std::to_string(col) + "\\b",
                                            std::regex::icase));
}

} // namespace

TEST_CASE("diagnostics: an unknown name, with the source line and a caret", "[e2e][diagnostics]") {
  Scratch s;
  s.write("m.nn", "param w = 5\nloss = square(v + 1)\noptimizer sgd(lr = 0.2)\ntrain(epochs = 1)\n");
  Output o = s.nnjit({"train", "m.nn"});
  CHECK(o.status == 1);
  std::string d = requireDiagnostic(o.err, "m.nn", 2, 15, "loss = square(v + 1)");
  CHECK(contains(d, "v"));
  CHECK(o.out.empty());
}

TEST_CASE("diagnostics: FILE is the path as given on the command line", "[e2e][diagnostics]") {
  Scratch s;
  std::filesystem::create_directories(s.path("sub"));
  s.write("sub/m.nn", "param w = 5\nloss = square(v + 1)\noptimizer sgd(lr = 0.2)\ntrain(epochs = 1)\n");
  Output o = s.nnjit({"train", "sub/m.nn"});
  CHECK(o.status == 1);
  requireDiagnostic(o.err, "sub/m.nn", 2, 15, "loss = square(v + 1)");
}

TEST_CASE("diagnostics: a shape mismatch names both shapes", "[e2e][diagnostics]") {
  Scratch s;
  s.write("m.nn", "param a[2, 3] = zeros\n"
                  "param b[4] = zeros\n"
                  "loss = sum(a + b)\n"
                  "optimizer sgd(lr = 0.2)\n"
                  "train(epochs = 1)\n");
  Output o = s.nnjit({"train", "m.nn"});
  CHECK(o.status == 1);
  std::string line = lineStarting(o.err, "m.nn:3:");
  INFO(o.err);
  REQUIRE(!line.empty());
  CHECK(std::regex_search(line, std::regex("^m\\.nn:3:\\d+: error: ")));
  std::string squeezed;
  for (char c : line)
    if (c != ' ') squeezed += c;
  CHECK(contains(squeezed, "[2,3]"));
  CHECK(contains(squeezed, "[4]"));
}

TEST_CASE("diagnostics: a matrix product with mismatched inner dims names both shapes", "[e2e][diagnostics]") {
  Scratch s;
  s.write("m.nn", "param a[2, 3] = zeros\n"
                  "param b[4, 5] = zeros\n"
                  "loss = sum(a @ b)\n"
                  "optimizer sgd(lr = 0.2)\n"
                  "train(epochs = 1)\n");
  Output o = s.nnjit({"check", "m.nn"});
  CHECK(o.status == 1);
  std::string line = lineStarting(o.err, "m.nn:3:");
  INFO(o.err);
  REQUIRE(!line.empty());
  std::string squeezed;
  for (char c : line)
    if (c != ' ') squeezed += c;
  CHECK(contains(squeezed, "[2,3]"));
  CHECK(contains(squeezed, "[4,5]"));
}

TEST_CASE("diagnostics: a syntax error", "[e2e][diagnostics]") {
  Scratch s;
  s.write("m.nn", "param w = 5\nloss = square(w + )\noptimizer sgd(lr = 0.2)\ntrain(epochs = 1)\n");
  Output o = s.nnjit({"train", "m.nn"});
  CHECK(o.status == 1);
  std::string line = lineStarting(o.err, "m.nn:2:");
  INFO(o.err);
  REQUIRE(!line.empty());
  CHECK(std::regex_search(line, std::regex("^m\\.nn:2:\\d+: error: ")));
  auto lines = textLines(o.err);
  auto it = std::find(lines.begin(), lines.end(), line);
  REQUIRE(std::distance(it, lines.end()) >= 3);
  CHECK(contains(*(it + 1), "loss = square(w + )"));
  CHECK(contains(*(it + 2), "^"));
}

TEST_CASE("diagnostics: several errors in one file are all reported", "[e2e][diagnostics]") {
  Scratch s;
  s.write("m.nn", "param w = 5\n"
                  "a = w + foo\n"
                  "b = w * bar\n"
                  "loss = square(w + 1)\n"
                  "optimizer sgd(lr = 0.2)\n"
                  "train(epochs = 1)\n");
  Output o = s.nnjit({"train", "m.nn"});
  CHECK(o.status == 1);
  requireDiagnostic(o.err, "m.nn", 2, 9, "a = w + foo");
  requireDiagnostic(o.err, "m.nn", 3, 9, "b = w * bar");
}

TEST_CASE("diagnostics: train without a loss, an optimizer or a train(...)", "[e2e][diagnostics]") {
  Scratch s;
  SECTION("no loss") {
    s.write("m.nn", "param w = 5\nz = square(w + 1)\noptimizer sgd(lr = 0.2)\ntrain(epochs = 1)\n");
    Output o = s.nnjit({"train", "m.nn"});
    CHECK(o.status == 1);
    CHECK(startsWith(o.err, "m.nn"));
    CHECK(contains(o.err, "error:"));
    CHECK(contains(o.err, "loss"));
  }
  SECTION("no optimizer") {
    s.write("m.nn", "param w = 5\nloss = square(w + 1)\ntrain(epochs = 1)\n");
    Output o = s.nnjit({"train", "m.nn"});
    CHECK(o.status == 1);
    CHECK(startsWith(o.err, "m.nn"));
    CHECK(contains(o.err, "error:"));
    CHECK(contains(o.err, "optimizer"));
  }
  SECTION("no train") {
    s.write("m.nn", "param w = 5\nloss = square(w + 1)\noptimizer sgd(lr = 0.2)\n");
    Output o = s.nnjit({"train", "m.nn"});
    CHECK(o.status == 1);
    CHECK(startsWith(o.err, "m.nn"));
    CHECK(contains(o.err, "error:"));
    CHECK(contains(o.err, "train"));
  }
}

TEST_CASE("diagnostics: check and show need a loss, but not an optimizer", "[e2e][diagnostics]") {
  Scratch s;
  s.write("noloss.nn", "param w = 5\nz = square(w + 1)\n");
  Output o = s.nnjit({"check", "noloss.nn"});
  CHECK(o.status == 1);
  CHECK(contains(o.err, "loss"));
  s.write("nooptim.nn", "param w = 5\nloss = square(w + 1)\n");
  Output c = s.nnjit({"check", "nooptim.nn"});
  INFO(c.err);
  CHECK(c.status == 0);
}

TEST_CASE("diagnostics: predict without an output", "[e2e][diagnostics]") {
  Scratch s;
  s.copy("examples/iris.csv", "iris.csv");
  s.write("m.nn", "data \"iris.csv\"\n"
                  "input x[batch, 4]\n"
                  "input label[batch] : class(3)\n"
                  "param W[4, 3] = zeros\n"
                  "loss = cross_entropy(x @ W, label)\n"
                  "optimizer sgd(lr = 0.1)\n"
                  "train(epochs = 1)\n");
  Output t = s.nnjit({"train", "m.nn", "--save", "p.safetensors"});
  INFO(t.err);
  REQUIRE(t.status == 0);
  Output o = s.nnjit({"predict", "m.nn", "--load", "p.safetensors", "--data", "iris.csv"});
  CHECK(o.status == 1);
  CHECK(startsWith(o.err, "m.nn"));
  CHECK(contains(o.err, "output"));
}

TEST_CASE("diagnostics: a model file that does not exist", "[e2e][diagnostics]") {
  Scratch s;
  Output o = s.nnjit({"train", "nope.nn"});
  CHECK(o.status == 1);
  CHECK(startsWith(o.err, "nope.nn: error: "));
}

TEST_CASE("diagnostics: a data file that does not exist", "[e2e][diagnostics]") {
  Scratch s;
  s.write("c.nn", kClassModel);
  Output o = s.nnjit({"train", "c.nn", "--data", "missing.csv"});
  CHECK(o.status == 1);
  CHECK(startsWith(o.err, "missing.csv: error: "));
}

TEST_CASE("diagnostics: CSV: a value that is not a number names the line and column", "[e2e][diagnostics]") {
  Scratch s;
  Output o = trainCsv(s, "a,b,c\n1,2,0\n1,x,1\n");
  CHECK(o.status == 1);
  std::string line = lineStarting(o.err, "d.csv:3: error: ");
  INFO(o.err);
  REQUIRE(!line.empty());
  CHECK(namesColumn(line, 2));
}

TEST_CASE("diagnostics: CSV: a wrong column count names the expected and found counts", "[e2e][diagnostics]") {
  Scratch s;
  Output o = trainCsv(s, "a,b,c\n1,2,0\n1,2,1\n1,2\n");
  CHECK(o.status == 1);
  std::string line = lineStarting(o.err, "d.csv:4: error: ");
  INFO(o.err);
  REQUIRE(!line.empty());
  std::string msg = line.substr(std::string("d.csv:4: error: ").size());
  CHECK(contains(msg, "3"));
  CHECK(contains(msg, "2"));
  CHECK(msg.find('3') != msg.find('2'));
}

TEST_CASE("diagnostics: CSV: too many columns, without a header", "[e2e][diagnostics]") {
  Scratch s;
  Output o = trainCsv(s, "1,2,0\n1,2,1,7\n");
  CHECK(o.status == 1);
  std::string line = lineStarting(o.err, "d.csv:2: error: ");
  INFO(o.err);
  REQUIRE(!line.empty());
  CHECK(contains(line, "3"));
  CHECK(contains(line, "4"));
}

TEST_CASE("diagnostics: CSV: a label out of range", "[e2e][diagnostics]") {
  Scratch s;
  Output o = trainCsv(s, "a,b,c\n1,2,0\n1,2,3\n");
  CHECK(o.status == 1);
  std::string line = lineStarting(o.err, "d.csv:3: error: ");
  INFO(o.err);
  REQUIRE(!line.empty());
  CHECK(namesColumn(line, 3));
}

TEST_CASE("diagnostics: CSV: a negative label", "[e2e][diagnostics]") {
  Scratch s;
  Output o = trainCsv(s, "a,b,c\n1,2,-1\n1,2,0\n");
  CHECK(o.status == 1);
  std::string line = lineStarting(o.err, "d.csv:2: error: ");
  INFO(o.err);
  REQUIRE(!line.empty());
  CHECK(namesColumn(line, 3));
}

TEST_CASE("diagnostics: CSV: a label 2.5 is not a class", "[e2e][diagnostics]") {
  Scratch s;
  Output o = trainCsv(s, "a,b,c\n1,2,0\n1,2,2.5\n");
  CHECK(o.status == 1);
  std::string line = lineStarting(o.err, "d.csv:3: error: ");
  INFO(o.err);
  REQUIRE(!line.empty());
  CHECK(namesColumn(line, 3));
}

TEST_CASE("diagnostics: CSV: 1e39 overflows float32 but is fine with --dtype f64", "[e2e][diagnostics]") {
  Scratch s;
  Output o = trainCsv(s, "a,b,c\n1,2,0\n1e39,2,1\n");
  CHECK(o.status == 1);
  std::string line = lineStarting(o.err, "d.csv:3: error: ");
  INFO(o.err);
  REQUIRE(!line.empty());
  CHECK(namesColumn(line, 1));
  // W = 0, so the logits are 0 and the loss log(3) stays finite in double.
  Output f64 = trainCsv(s, "a,b,c\n1,2,0\n1e39,2,1\n", {"--dtype", "f64", "--lr", "0"});
  INFO(f64.err);
  CHECK(f64.status == 0);
  auto lines = epochLines(f64.out);
  REQUIRE(lines.size() == 1);
  CHECK(near(lines[0]["loss"].get<double>(), std::log(3.0), 1e-9));
}

TEST_CASE("diagnostics: CSV: float32's largest, as predict writes it, reads back", "[e2e][diagnostics]") {
  // 3.4028235e38 is a little above float32's largest as a double, and rounds to it.
  Scratch s;
  s.write("m.nn", "input x[batch, 1]\nparam s = 1\ny = x * s\noutput y\nloss = mean(y) * 0\n"
                  "optimizer sgd(lr = 0)\ntrain(epochs = 1)\n");
  s.write("largest.csv", "3.4028235e38\n-3.4028235e38\n");
  Output trained = s.nnjit({"train", "m.nn", "--data", "largest.csv", "--save", "p.safetensors"});
  INFO(trained.err);
  REQUIRE(trained.status == 0);
  Output wrote = s.nnjit({"predict", "m.nn", "--load", "p.safetensors", "--data", "largest.csv"});
  INFO(wrote.err);
  REQUIRE(wrote.status == 0);
  CHECK(contains(wrote.out, "3.4028235e+38"));
  s.write("again.csv", wrote.out);
  Output read = s.nnjit({"predict", "m.nn", "--load", "p.safetensors", "--data", "again.csv"});
  INFO(wrote.out << read.err);
  CHECK(read.status == 0);
  CHECK(read.out == wrote.out);
}

TEST_CASE("diagnostics: a number in the model that float32 cannot hold, where it is written", "[e2e][diagnostics]") {
  Scratch s;
  s.write("m.nn", "param w = 1\nparam v[2] = [1, 5e38]\nloss = square(w * 1e39) + sum(v)\n"
                  "optimizer sgd(lr = 0.1)\ntrain(epochs = 1)\n");
  Output o = s.nnjit({"train", "m.nn"});
  CHECK(o.status == 1);
  requireDiagnostic(o.err, "m.nn", 3, 19, "loss = square(w * 1e39) + sum(v)");
  requireDiagnostic(o.err, "m.nn", 2, 7, "param v[2] = [1, 5e38]");
  Output f64 = s.nnjit({"train", "m.nn", "--dtype", "f64", "--lr", "0"});
  INFO(f64.err);
  CHECK(f64.status == 0);
}

TEST_CASE("diagnostics: CSV: nan and inf are not finite numbers", "[e2e][diagnostics]") {
  Scratch s;
  Output o = trainCsv(s, "a,b,c\n1,nan,0\n");
  CHECK(o.status == 1);
  CHECK(namesColumn(lineStarting(o.err, "d.csv:2: error: "), 2));
  Output i = trainCsv(s, "a,b,c\n1,2,0\ninf,2,0\n");
  CHECK(i.status == 1);
  CHECK(namesColumn(lineStarting(i.err, "d.csv:3: error: "), 1));
}

TEST_CASE("diagnostics: a header-only CSV is an error", "[e2e][diagnostics]") {
  Scratch s;
  Output o = trainCsv(s, "a,b,c\n");
  CHECK(o.status == 1);
  CHECK(startsWith(o.err, "d.csv"));
  CHECK(contains(o.err, "error:"));
}

TEST_CASE("diagnostics: a CSV with CRLF line ends trains like one with LF line ends", "[e2e][diagnostics]") {
  Scratch s;
  s.copy("examples/iris.nn", "iris.nn");
  s.copy("examples/iris.csv", "iris.csv");
  std::string text = s.read("iris.csv");
  std::string crlf;
  for (char c : text) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  s.write("crlf.csv", crlf);
  Output a = s.nnjit({"train", "iris.nn", "--epochs", "2", "--log", "json"});
  Output b = s.nnjit({"train", "iris.nn", "--data", "crlf.csv", "--epochs", "2", "--log", "json"});
  INFO(b.err);
  REQUIRE(a.status == 0);
  REQUIRE(b.status == 0);
  auto la = epochLines(a.out), lb = epochLines(b.out);
  REQUIRE(la.size() == 2);
  REQUIRE(lb.size() == 2);
  CHECK(la[1]["loss"] == lb[1]["loss"]);
  CHECK(la[1]["test"] == lb[1]["test"]);
}

TEST_CASE("diagnostics: a builtin's name, epoch or batch cannot name a value", "[e2e][diagnostics]") {
  Scratch s;
  for (std::string name : {"exp", "softmax", "epoch", "batch"}) {
    INFO(name);
    s.write("m.nn", "param w = 5\n" + name + " = w + 1\nloss = square(w + 1)\noptimizer sgd(lr = 0.2)\ntrain(epochs = 1)\n");
    Output o = s.nnjit({"train", "m.nn"});
    CHECK(o.status == 1);
    std::string line = lineStarting(o.err, "m.nn:2:");
    INFO(o.err);
    CHECK(std::regex_search(line, std::regex("^m\\.nn:2:\\d+: error: ")));
  }
  s.write("p.nn", "param exp = 5\nloss = square(exp + 1)\noptimizer sgd(lr = 0.2)\ntrain(epochs = 1)\n");
  Output p = s.nnjit({"train", "p.nn"});
  CHECK(p.status == 1);
  CHECK(startsWith(p.err, "p.nn:1:"));
}

TEST_CASE("diagnostics: a value assigned twice is an error", "[e2e][diagnostics]") {
  Scratch s;
  s.write("m.nn", "param w = 5\nz = w + 1\nz = w + 2\nloss = square(z)\noptimizer sgd(lr = 0.2)\ntrain(epochs = 1)\n");
  Output o = s.nnjit({"train", "m.nn"});
  CHECK(o.status == 1);
  CHECK(startsWith(o.err, "m.nn:3:"));
}

TEST_CASE("diagnostics: epoch is usable in lr", "[e2e][diagnostics]") {
  // Epoch 1 uses lr 0.2: w = 5 - 0.2 * 12 = 2.6; epoch 2 uses lr 0.1: w = 2.6 - 0.1 * 7.2 = 1.88.
  Scratch s;
  s.write("m.nn", quadratic("sgd(lr = 0.2 * 0.5 ^ epoch)", 2));
  Output o = s.nnjit({"train", "m.nn", "--log", "json"});
  INFO(o.err);
  REQUIRE(o.status == 0);
  auto lines = epochLines(o.out);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["loss"].get<double>() == 36.0);
  CHECK(near(lines[0]["metrics"]["w"].get<double>(), 2.6));
  CHECK(near(lines[1]["loss"].get<double>(), 12.96));
  CHECK(near(lines[1]["metrics"]["w"].get<double>(), 1.88));
}

TEST_CASE("diagnostics: comments, blank lines and a line continued after '('", "[e2e][diagnostics]") {
  Scratch s;
  s.write("m.nn", "# a comment\n\nparam w = 5   # trailing comment\nloss = square(\n  w + 1\n)\nmetric w\n"
                  "optimizer sgd(lr = 0.2)\ntrain(epochs = 1)\n");
  Output o = s.nnjit({"train", "m.nn", "--log", "json"});
  INFO(o.err);
  REQUIRE(o.status == 0);
  auto lines = epochLines(o.out);
  REQUIRE(lines.size() == 1);
  CHECK(near(lines[0]["metrics"]["w"].get<double>(), 2.6));
}

TEST_CASE("diagnostics: concat cannot join along batch", "[e2e][diagnostics]") {
  Scratch s;
  s.write("m.nn", "input x[batch, 2]\nparam w[2] = ones\nz = concat(x, x, axis = 0)\nloss = mean(z @ w)\n"
                  "optimizer sgd(lr = 0.1)\ntrain(epochs = 1)\n");
  s.write("d.csv", "1,2\n3,4\n");
  Output o = s.nnjit({"train", "m.nn", "--data", "d.csv"});
  CHECK(o.status == 1);
  CHECK(startsWith(o.err, "m.nn:3:"));
}

TEST_CASE("diagnostics: a CSV named in the .nn file is named as written there", "[e2e][diagnostics]") {
  Scratch s;
  std::filesystem::create_directory(s.path("models"));
  s.write("models/m.nn", "data \"d.csv\"\ninput x[batch, 1]\nparam w = 1\nloss = mean(x * w)\n"
                         "optimizer sgd(lr = 0.1)\ntrain(epochs = 1, test = \"t.csv\")\n");
  s.write("models/d.csv", "1\nabc\n");
  s.write("models/t.csv", "1\n");
  Output o = s.nnjit({"train", "models/m.nn"});
  CHECK(o.status == 1);
  CHECK(startsWith(o.err, "d.csv:2: error: column 1"));
  s.write("models/d.csv", "1\n2\n");
  s.write("models/t.csv", "x\n");
  o = s.nnjit({"train", "models/m.nn"});
  CHECK(o.status == 1);
  CHECK(startsWith(o.err, "t.csv: error:"));
  s.write("other.csv", "oops\n1,2\n");
  o = s.nnjit({"train", "models/m.nn", "--data", "other.csv"});
  CHECK(o.status == 1);
  // The header's width is wrong too (1 name over 2 columns), and named first.
  CHECK(startsWith(o.err, "other.csv:1: error: the header has 1 column, but the first row (line 2) has 2"));
  CHECK(contains(o.err, "other.csv:2: error: expected 1 column"));
}

namespace {

/// Runs `command` on a model file `name` holding `text`; expects exit 1 and `message` on stderr.
void expectError(const std::string& name, const std::string& text, const std::string& message,
                 const std::string& command = "check") {
  Scratch s;
  s.write(name, text);
  Output out = s.nnjit({command, name});
  INFO(out.err);
  CHECK(out.status == 1);
  CHECK(contains(out.err, message));
}

/// Expects `text` to train without errors.
void expectTrains(const std::string& text) {
  Scratch s;
  s.write("ok.nn", text);
  CHECK(s.nnjit({"train", "ok.nn"}).status == 0);
}

const char* const kTail = "optimizer sgd(lr = 0.1)\ntrain(epochs = 1)\n";

} // namespace

TEST_CASE("diagnostics: a metrics-only builtin in the loss, named as written, with the source line and a caret",
          "[e2e][diagnostics]") {
  std::string model = std::string("param w[3] = [1, 2, 3]\nloss = sum(w) + accuracy(w, 2)\n") + kTail;
  for (const char* command : {"train", "check"}) {
    expectError("acc.nn", model, "acc.nn:2:17: error: 'accuracy' has no gradient", command);
    expectError("acc.nn", model, "\nloss = sum(w) + accuracy(w, 2)\n                ^", command);
  }
}

TEST_CASE("diagnostics: a syntax error at the end of the file points at its last line", "[e2e][diagnostics]") {
  for (const char* text : {"param w = 2\nloss = square(w\n", "param w = 2\nloss = square(w\n\n\n", "param w = 2\nloss = square(w"}) {
    expectError("eof.nn", text, "eof.nn:2:16: error: expected ')'");
    expectError("eof.nn", text, "\nloss = square(w\n               ^");
  }
}

TEST_CASE("diagnostics: class(0) has no labels", "[e2e][diagnostics]") {
  expectError("n.nn", std::string("input x[batch, 2]\ninput l[batch] : class(0)\nparam w = 1\nloss = mean(x * w) + mean(l)\n") + kTail,
              "n.nn:2:24: error: class(0) has no labels");
}

TEST_CASE("diagnostics: shuffle takes a seed or false, not true", "[e2e][diagnostics]") {
  const std::string model = "param w = 5\nloss = square(w + 1)\noptimizer sgd(lr = 0.2)\n";
  expectError("q.nn", model + "train(epochs = 1, shuffle = true)\n", "q.nn:4:29: error: shuffle takes a seed", "train");
  expectTrains(model + "train(epochs = 1, shuffle = false)\n");
}

TEST_CASE("diagnostics: a builtin name cannot name an input", "[e2e][diagnostics]") {
  expectError("b.nn", std::string("input exp[batch, 2]\nparam w = 1\nloss = mean(exp * w)\n") + kTail,
              "'exp' is a builtin name and cannot name an input");
}

TEST_CASE("diagnostics: a fn body sees only the values defined before the fn", "[e2e][diagnostics]") {
  expectError("late.nn", std::string("param w = 2\nfn f(a) = a * k\nk = 3\nloss = f(w)\n") + kTail,
              "late.nn:2:15: error: 'k' is defined on line 3, after the function 'f' that uses it");
  expectTrains(std::string("param w = 2\nk = 3\nfn f(a) = a * k\nloss = f(w)\n") + kTail);
}

TEST_CASE("diagnostics: an argmax the loss shares with a metric's accuracy is named argmax, at the loss",
          "[e2e][diagnostics]") {
  expectError("am.nn", std::string("param W[3] = [1, 2, 3]\nmetric acc = accuracy(W, 2)\nloss = sum(W) + argmax(W)\n") + kTail,
              "am.nn:3:15: error: 'argmax' has no gradient");
}

TEST_CASE("diagnostics: optimizer hyperparameters PyTorch refuses, where they are written", "[e2e][diagnostics]") {
  Scratch s;
  struct Case {
    std::string optimizer, message;
    int col;
  } cases[] = {
      {"rmsprop(lr = -0.1)", "lr = -0.1 must not be negative", 24},
      {"adam(lr = 0.5 - 1)", "lr = -0.5 must not be negative", 25},  // at the operator
      {"rmsprop(lr = 0.1, rho = 1.5)", "rho = 1.5 must be from 0 to 1", 35},
      {"rmsprop(lr = 0.1, eps = -1)", "eps = -1 must not be negative", 35},
      {"adam(lr = 0.1, beta1 = 1)", "beta1 = 1 must be at least 0 and below 1", 34},
      {"adamw(beta2 = -0.5)", "beta2 = -0.5 must be at least 0 and below 1", 25},
      {"sgd(lr = 0.1, momentum = 0.9, nesterov = 2)", "nesterov = 2 is true or false", 52},
      {"sgd(lr = 0.1, momentum = -0.9)", "momentum = -0.9 must not be negative", 36},
      {"adagrad(lr = 0.1, initial = -1)", "initial = -1 must not be negative", 39},
  };
  for (const Case& c : cases) {
    std::string line = "optimizer " + c.optimizer;
    s.write("m.nn", "param w = 1\nloss = square(w)\n" + line + "\ntrain(epochs = 1)\n");
    Output o = s.nnjit({"train", "m.nn"});
    INFO(o.err);
    CHECK(o.status == 1);
    CHECK(requireDiagnostic(o.err, "m.nn", 3, c.col, line) == "m.nn:3:" + std::to_string(c.col) + ": error: " + c.message);
  }
  // Valid edges, and an lr of epoch (not checked: it may be anything by then).
  for (const char* ok : {"sgd(lr = 0, momentum = 0, nesterov = true)", "rmsprop(lr = 0.1, rho = 1, eps = 0)",
                         "adam(beta1 = 0, beta2 = 0.999999)", "sgd(lr = 0.1 - 0.01 * epoch)"}) {
    s.write("m.nn", std::string("param w = 1\nloss = square(w)\noptimizer ") + ok + "\ntrain(epochs = 1)\n");
    Output o = s.nnjit({"train", "m.nn"});
    INFO(ok << "\n" << o.err);
    CHECK(o.status == 0);
  }
  Output lr = s.nnjit({"train", "m.nn", "--lr", "-0.1"});
  CHECK(lr.status == 2);
  CHECK(contains(lr.err, "nnjit: error: --lr: -0.1 must not be negative"));
}

TEST_CASE("diagnostics: empty paths and out-of-range train(...) arguments, where they are written", "[e2e][diagnostics]") {
  Scratch s;
  s.write("d.nn", "data \"\"\ninput x[batch, 1]\nparam w = 0\nloss = mean(x * w)\noptimizer sgd(lr = 1)\ntrain(epochs = 1)\n");
  requireDiagnostic(s.nnjit({"train", "d.nn"}).err, "d.nn", 1, 6, "data \"\"");
  s.write("t.nn", "input x[batch, 1]\nparam w = 0\nloss = mean(x * w)\noptimizer sgd(lr = 1)\ntrain(test = \"\")\n");
  requireDiagnostic(s.nnjit({"train", "t.nn"}).err, "t.nn", 5, 14, "train(test = \"\")");
  s.write("e.nn", "param w = 0\nloss = square(w)\noptimizer sgd(lr = 1)\ntrain(epochs = 1e13)\n");
  CHECK(contains(requireDiagnostic(s.nnjit({"train", "e.nn"}).err, "e.nn", 4, 16, "train(epochs = 1e13)"),
                 "epochs must be at most 1000000000000"));
  // A share of the rows is known to leave none once the data is read: still at the argument.
  std::string rows;
  for (int i = 0; i < 100; ++i) rows += std::to_string(i) + "\n";
  s.write("rows.csv", rows);
  s.write("f.nn", "input x[batch, 1]\nparam w = 0\nloss = mean(x * w)\noptimizer sgd(lr = 1)\n"
                  "train(epochs = 1, test = 0.999)\n");
  Output all = s.nnjit({"train", "f.nn", "--data", "rows.csv"});
  CHECK(all.status == 1);
  CHECK(contains(requireDiagnostic(all.err, "f.nn", 5, 26, "train(epochs = 1, test = 0.999)"), "test takes 100 rows"));
}

TEST_CASE("diagnostics: a repeated option says so in a sentence", "[e2e][diagnostics]") {
  Scratch s;
  s.write("m.nn", "param w = 0\nloss = square(w)\noptimizer sgd(lr = 1)\ntrain(epochs = 1)\n");
  Output o = s.nnjit({"train", "m.nn", "--epochs", "1", "--epochs", "2"});
  CHECK(o.status == 2);
  CHECK(startsWith(o.err, "nnjit: error: --epochs is given 2 times; give it once\n"));
}

TEST_CASE("diagnostics: a loss that is not finite before any update does not blame the lr", "[e2e][diagnostics]") {
  Scratch s;
  s.write("m.nn", "input x[batch, 1]\nparam w = 1\nloss = mean(x * w * x)\noptimizer sgd(lr = 0.1)\ntrain(epochs = 2)\n");
  s.write("big.csv", "1e30\n");
  Output first = s.nnjit({"train", "m.nn", "--data", "big.csv"});
  CHECK(first.status == 3);
  CHECK(contains(first.err, "the loss is inf at epoch 1, batch 1; that is before any update"));
  CHECK(!contains(first.err, "smaller lr"));
  // A loss that grows past float32 after some updates does.
  s.write("d.nn", "param w = 1\nloss = square(w)\noptimizer sgd(lr = 10)\ntrain(epochs = 40)\n");  // w: -19 w a step
  Output later = s.nnjit({"train", "d.nn"});
  CHECK(later.status == 3);
  CHECK(contains(later.err, "try a smaller lr"));
}

TEST_CASE("diagnostics: a character the lexer cannot read is one error, not echoes on its line", "[e2e][diagnostics]") {
  Scratch s;
  s.write("m.nn", "param w = 1\nloss = squaré(w)\nz = w $ 2\ny = sqaure(w)\noptimizer sgd(lr = 0.1)\ntrain(epochs = 1)\n");
  Output o = s.nnjit({"train", "m.nn"});
  INFO(o.err);
  CHECK(o.status == 1);
  requireDiagnostic(o.err, "m.nn", 2, 13, "loss = squaré(w)");
  requireDiagnostic(o.err, "m.nn", 3, 7, "z = w $ 2");
  // No 'unknown function squar' after the first, no stray '2' after the second; other lines still report.
  CHECK(!contains(o.err, "'squar'"));
  CHECK(!contains(o.err, "m.nn:3:9:"));
  CHECK(contains(o.err, "m.nn:4:5: error: unknown function 'sqaure'; did you mean 'square'?"));
  CHECK(contains(o.err, "3 errors generated."));
}
