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
