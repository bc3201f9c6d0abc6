// UsabilityTest: what makes the command line pleasant — "did you mean", help texts, --version, colour.
#include "Helpers.h"

#include <regex>

using namespace nnjit::e2e;

namespace {

/// The first stderr line, where a usage error's message is.
std::string firstLine(const Output& o) { return textLines(o.err).empty() ? "" : textLines(o.err)[0]; }

const char* kIris = "input x[batch, 4]\n"
                    "input label[batch] : class(3)\n"
                    "param W[4, 3] = zeros\n"
                    "y = softmax(x @ W)\n"
                    "loss = mean(square(onehot(label, 3) - y))\n"
                    "optimizer sgd(lr = 0.1)\n"
                    "train(epochs = 1)\n";

/// kIris with line `line` (1-based) replaced.
std::string irisWith(int line, const std::string& text) {
  std::vector<std::string> lines = textLines(kIris);
  lines.at(line - 1) = text;
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

bool haveScript() { return std::system("command -v script >/dev/null 2>&1") == 0; }

} // namespace

TEST_CASE("usability: an unknown command suggests the nearest one", "[e2e][usability]") {
  Scratch s;
  Output o = s.nnjit({"trian", "x.nn"});
  CHECK(o.status == 2);
  CHECK(firstLine(o) == "nnjit: error: unknown command 'trian'; did you mean 'train'?");
  Output far = s.nnjit({"frobnicate", "x.nn"});
  CHECK(far.status == 2);
  CHECK(firstLine(far) == "nnjit: error: unknown command 'frobnicate'");
}

TEST_CASE("usability: an unknown option suggests the command's nearest option", "[e2e][usability]") {
  Scratch s;
  s.copy("examples/quadratic.nn", "q.nn");
  Output o = s.nnjit({"train", "q.nn", "--epoch", "3"});
  CHECK(o.status == 2);
  CHECK(o.out.empty());
  CHECK(firstLine(o) == "nnjit: error: unknown option '--epoch'; did you mean '--epochs'?");
  CHECK(firstLine(s.nnjit({"train", "q.nn", "--epoch=3"})) ==
        "nnjit: error: unknown option '--epoch'; did you mean '--epochs'?");
  CHECK(firstLine(s.nnjit({"eval", "q.nn", "--lod", "ck"})) ==
        "nnjit: error: unknown option '--lod'; did you mean '--load'?");
  // Only the command's own options: eval has no --epochs.
  CHECK(firstLine(s.nnjit({"eval", "q.nn", "--epoch", "3"})) == "nnjit: error: unknown option '--epoch'");
  CHECK(firstLine(s.nnjit({"train", "q.nn", "--bogus"})) == "nnjit: error: unknown option '--bogus'");
  // A value that starts with '-' is a value, not an option (here one no optimizer takes).
  Output lr = s.nnjit({"train", "q.nn", "--lr", "-0.1", "--epochs", "1"});
  INFO(lr.err);
  CHECK(firstLine(lr) == "nnjit: error: --lr: -0.1 must not be negative");
  Output extra = s.nnjit({"train", "q.nn", "other.nn"});
  CHECK(extra.status == 2);
  CHECK(firstLine(extra) == "nnjit: error: unexpected argument 'other.nn': nnjit train takes one MODEL.nn");
  Output none = s.nnjit({"train"});
  CHECK(none.status == 2);
  CHECK(firstLine(none) == "nnjit: error: nnjit train needs a MODEL.nn file");
}

TEST_CASE("usability: --log and --dtype accept their names only, any case", "[e2e][usability]") {
  Scratch s;
  s.copy("examples/quadratic.nn", "q.nn");
  Output one = s.nnjit({"train", "q.nn", "--log", "1"});
  CHECK(one.status == 2);
  CHECK(firstLine(one) == "nnjit: error: --log: '1' is not text or json");
  Output zero = s.nnjit({"train", "q.nn", "--dtype", "0"});
  CHECK(zero.status == 2);
  CHECK(firstLine(zero) == "nnjit: error: --dtype: '0' is not f32 or f64");
  CHECK(firstLine(s.nnjit({"train", "q.nn", "--log", "jsn"})) ==
        "nnjit: error: --log: 'jsn' is not text or json; did you mean 'json'?");
  CHECK(firstLine(s.nnjit({"train", "q.nn", "--color", "sometimes"})) ==
        "nnjit: error: --color: 'sometimes' is not auto, always or never");
  Output upper = s.nnjit({"train", "q.nn", "--log", "JSON", "--dtype", "F64", "--epochs", "1"});
  INFO(upper.err);
  CHECK(upper.status == 0);
  CHECK(epochLines(upper.out).size() == 1);
}

TEST_CASE("usability: model errors suggest builtins, names in scope, optimizers and arguments", "[e2e][usability]") {
  Scratch s;
  struct Case {
    int line;
    std::string text, message;
    int col;
  } cases[] = {
      {4, "y = sofmax(x @ W)", "unknown function 'sofmax'; did you mean 'softmax'?", 5},
      {5, "loss = mean(square(onehot(lable, 3) - y))", "unknown name 'lable'; did you mean 'label'?", 27},
      {6, "optimizer adma(lr = 0.1)", "unknown optimizer 'adma'; did you mean 'adam'?", 11},
      {6, "optimizer sgd(lr = 0.1, momentun = 0.9)", "'sgd' has no argument 'momentun'; did you mean 'momentum'?", 25},
      {7, "train(epoch = 3)", "'train' has no argument 'epoch'; did you mean 'epochs'?", 7},
  };
  for (const Case& c : cases) {
    s.write("m.nn", irisWith(c.line, c.text));
    Output o = s.nnjit({"check", "m.nn"});
    INFO(c.text << "\n" << o.err);
    CHECK(o.status == 1);
    CHECK(requireDiagnostic(o.err, "m.nn", c.line, c.col, c.text) ==
          "m.nn:" + std::to_string(c.line) + ":" + std::to_string(c.col) + ": error: " + c.message);
  }
  // A fn body sees its parameters; nothing close, nothing suggested.
  s.write("f.nn", irisWith(4, "fn f(alpha) = alpah * 2\ny = softmax(f(x @ W))"));
  CHECK(contains(s.nnjit({"check", "f.nn"}).err, "unknown name 'alpah'; did you mean 'alpha'?"));
  s.write("z.nn", irisWith(4, "y = zzzz(x @ W)"));
  CHECK(contains(s.nnjit({"check", "z.nn"}).err, "error: unknown function 'zzzz'\n"));
}

TEST_CASE("usability: one error prints as before, several close with 'N errors generated.'", "[e2e][usability]") {
  Scratch s;
  s.write("one.nn", "param w = 5\nloss = square(w + 1)\noptimizer adma(lr = 0.1)\ntrain(epochs = 1)\n");
  Output one = s.nnjit({"train", "one.nn"});
  CHECK(one.status == 1);
  CHECK(one.err == "one.nn:3:11: error: unknown optimizer 'adma'; did you mean 'adam'?\n"
                   "optimizer adma(lr = 0.1)\n"
                   "          ^\n");
  s.write("two.nn", "param w = 5\na = w + foo\nb = w * bar\nloss = square(w + 1)\noptimizer sgd(lr = 0.2)\n"
                    "train(epochs = 1)\n");
  Output two = s.nnjit({"train", "two.nn"});
  CHECK(two.status == 1);
  CHECK(textLines(two.err).size() == 7);
  CHECK(textLines(two.err).back() == "2 errors generated.");
}

TEST_CASE("usability: --version names nnjit's version, LLVM's, the host CPU and the MPI library", "[e2e][usability]") {
  Scratch s;
  Output o = s.nnjit({"--version"});
  CHECK(o.status == 0);
  CHECK(o.err.empty());
  auto lines = textLines(o.out);
  REQUIRE(lines.size() == 4);
  CHECK(std::regex_match(lines[0], std::regex("nnjit [0-9]+\\.[0-9]+\\.[0-9]+")));
  CHECK(std::regex_match(lines[1], std::regex("LLVM [0-9]+\\.[0-9]+\\.[0-9]+.*")));
  CHECK(std::regex_match(lines[2], std::regex("host CPU [-a-z0-9_.]+, (128|256|512)-bit vectors")));
#ifdef NNJIT_HAVE_MPI
  CHECK(std::regex_match(lines[3], std::regex("Open MPI v[0-9.]+ \\(data parallel under mpirun\\)")));
#else
  CHECK(lines[3] == "MPI: not built in (one process)");
#endif
}

TEST_CASE("usability: help texts are each command's own, in plain words", "[e2e][usability]") {
  Scratch s;
  for (const char* cmd : {"train", "eval", "predict", "check", "show"}) {
    Output o = s.nnjit({cmd, "--help"});
    INFO(cmd << "\n" << o.out);
    CHECK(o.status == 0);
    CHECK(startsWith(o.out, std::string("usage: nnjit ") + cmd + " MODEL.nn"));
    for (const char* other : {"train", "eval", "predict", "check", "show"})
      if (std::string(other) != cmd) CHECK(!contains(o.out, std::string("nnjit ") + other));
    for (const char* internal : {"value in", "->", "REQUIRED", ":PATH", "N:N", "Positionals", "OR {"})
      CHECK(!contains(o.out, internal));
    for (const std::string& line : textLines(o.out)) CHECK(line.size() <= 80);
  }
  Output predict = s.nnjit({"predict", "--help"});
  CHECK(contains(predict.out, "--load P.safetensors --data CSV"));  // both needed: not in brackets
  CHECK(!contains(predict.out, "[--data CSV]"));
  CHECK(contains(s.nnjit({"show", "--help"}).out, "--graph | --grad | --ir | --asm"));
  CHECK(contains(s.nnjit({"train", "--help"}).out, "  --log text|json "));
  Output top = s.nnjit({"--help"});
  CHECK(top.status == 0);
  for (const char* cmd : {"train", "eval", "predict", "check", "show", "--version"})
    CHECK(contains(top.out, std::string("  ") + cmd + " "));
}

TEST_CASE("usability: diagnostics are coloured on a terminal, plain in a pipe or with NO_COLOR", "[e2e][usability]") {
  Scratch s;
  s.write("m.nn", "param w = 5\nloss = square(w + 1)\noptimizer adma(lr = 0.1)\ntrain(epochs = 1)\n");
  const std::string plain = "m.nn:3:11: error: unknown optimizer 'adma'; did you mean 'adam'?\n"
                            "optimizer adma(lr = 0.1)\n"
                            "          ^\n";
  // clang's colours: bold location and message, bold red "error:", bold green caret.
  const std::string coloured =
      "\033[1mm.nn:3:11: \033[0m\033[0;1;31merror: \033[0m\033[1munknown optimizer 'adma'; did you mean 'adam'?\033[0m\n"
      "optimizer adma(lr = 0.1)\n"
      "          \033[0;1;32m^\033[0m\n";
  CHECK(s.nnjit({"train", "m.nn"}).err == plain);
  CHECK(s.nnjit({"train", "m.nn", "--color=always"}).err == coloured);
  CHECK(s.nnjit({"--color", "always", "train", "m.nn"}).err == coloured);
  CHECK(s.nnjit({"train", "m.nn", "--color", "never"}).err == plain);
  if (!haveScript()) {
    WARN("no 'script' (util-linux): the terminal cases are not run");
    return;
  }
  // `script` runs nnjit on a pseudo-terminal; its output is the terminal's (\r\n line ends).
  auto onTerminal = [&](const std::string& env, const std::string& flags) {
    return s.shell(env + " script -qec \"$NNJIT train m.nn " + flags + "\" /dev/null").out;
  };
  auto crlf = [](std::string text) { return std::regex_replace(text, std::regex("\n"), "\r\n"); };
  CHECK(onTerminal("TERM=xterm", "") == crlf(coloured));
  CHECK(onTerminal("TERM=xterm NO_COLOR=1", "") == crlf(plain));
  CHECK(onTerminal("TERM=dumb", "") == crlf(plain));
  CHECK(onTerminal("TERM=xterm", "--color=never") == crlf(plain));
  CHECK(onTerminal("TERM=xterm NO_COLOR=", "") == crlf(coloured));  // NO_COLOR set but empty does not count
}

TEST_CASE("usability: text epoch lines show the JSON log's values to 5 digits, in aligned columns", "[e2e][usability]") {
  Scratch s;
  s.copy("examples/iris.nn", "iris.nn");
  s.copy("examples/iris.csv", "iris.csv");
  Output text = s.nnjit({"train", "iris.nn", "--epochs", "3", "--save", "ck.safetensors"});
  Output json = s.nnjit({"train", "iris.nn", "--epochs", "3", "--log", "json"});
  REQUIRE(text.status == 0);
  REQUIRE(json.status == 0);
  // "epoch 1/3  loss L  acc A  | test loss TL  acc TA", each value padded to 10 characters.
  std::vector<std::string> textEpochs = textLines(text.out);
  std::vector<nlohmann::json> jsonEpochs = epochLines(json.out);
  REQUIRE(jsonEpochs.size() == 3);
  std::regex textLine("epoch \\d/3  loss (\\S+) +acc (\\S+) +\\| test loss (\\S+) +acc (\\S+)");
  auto fiveDigits = [](const std::string& shown, double full) {
    INFO(shown << " for " << full);
    CHECK(shown.size() <= 7);  // "0.xxxxx": at most 5 significant digits
    CHECK(std::fabs(std::stod(shown) - full) <= 5e-5 * std::fabs(full));
  };
  for (int e = 0; e < 3; ++e) {
    std::smatch m;
    INFO(textEpochs[e]);
    REQUIRE(std::regex_match(textEpochs[e], m, textLine));
    fiveDigits(m[1], jsonEpochs[e]["loss"].get<double>());
    fiveDigits(m[2], jsonEpochs[e]["metrics"]["acc"].get<double>());
    fiveDigits(m[3], jsonEpochs[e]["test"]["loss"].get<double>());
    fiveDigits(m[4], jsonEpochs[e]["test"]["acc"].get<double>());
    CHECK(textEpochs[e].find("acc") == textEpochs[0].find("acc"));
    CHECK(textEpochs[e].find("| test") == textEpochs[0].find("| test"));
  }
  // The done line keeps every digit of the last loss, as JSON writes it.
  std::smatch done;
  std::string last = textLines(text.out).back();
  REQUIRE(std::regex_search(last, done, std::regex("final loss ([^,]+),")));
  CHECK(static_cast<float>(std::stod(done[1])) == static_cast<float>(jsonLines(json.out).back()["loss"].get<double>()));
}
