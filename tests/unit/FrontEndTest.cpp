// FrontEndTest: lexer, parser and the diagnostics they produce.
#include "TestSupport.h"

using namespace nnjit;

namespace {

std::string parsed(const std::string& src) {
  DiagnosticEngine diags("t.nn", src);
  Module m = parse(lex(src, diags), diags);
  std::string out = printAST(m);
  for (const auto& d : diags.diagnostics()) out += formatDiagnostic(d);
  return out;
}

std::string errors(const std::string& src) { return test::lowerErrors(src); }

} // namespace

TEST_CASE("lexer: tokens carry line and column", "[lexer]") {
  DiagnosticEngine diags("t.nn", "");
  auto toks = lex("param w = 5 # c\n  loss = w^2\n", diags);
  REQUIRE(toks.size() == 12);
  CHECK(toks[0].text == "param");
  CHECK(toks[3].kind == Tok::Number);
  CHECK(toks[3].number == 5);
  CHECK(toks[4].kind == Tok::Newline);
  CHECK(toks[5].loc.line == 2);
  CHECK(toks[5].loc.col == 3);
  CHECK(toks[8].kind == Tok::Caret);
}

TEST_CASE("lexer: numbers in every spelling", "[lexer]") {
  DiagnosticEngine diags("t.nn", "");
  auto toks = lex("1 0.5 1e-3 .25 2E+2", diags);
  std::vector<double> want{1, 0.5, 1e-3, 0.25, 200};
  for (size_t i = 0; i < want.size(); ++i) CHECK(toks[i].number == want[i]);
  CHECK(!diags.hasErrors());
}

TEST_CASE("lexer: newlines inside brackets continue the statement", "[lexer]") {
  DiagnosticEngine diags("t.nn", "");
  auto toks = lex("train(epochs = 1,\n  batch = 2)\n", diags);
  int newlines = 0;
  for (const auto& t : toks) newlines += t.kind == Tok::Newline;
  CHECK(newlines == 1);
}

TEST_CASE("lexer: a BOM and CRLF line ends are accepted", "[lexer]") {
  DiagnosticEngine diags("t.nn", "");
  auto toks = lex("\xEF\xBB\xBFparam w = 5\r\nloss = w\r\n", diags);
  CHECK(!diags.hasErrors());
  CHECK(toks[0].text == "param");
  CHECK(toks[0].loc.col == 1);
}

TEST_CASE("lexer: stray characters are diagnosed", "[lexer]") {
  CHECK(parsed("x = 1 $ 2\n").find("t.nn:1:7: error: unexpected character '$'") != std::string::npos);
}

TEST_CASE("parser: precedence and associativity", "[parser]") {
  CHECK(parsed("a = 1 + 2 * 3\n") == "1:1 a = (1 + (2 * 3))\n");
  CHECK(parsed("a = -2 ^ 2\n") == "1:1 a = (-(2 ^ 2))\n");
  CHECK(parsed("a = 2 ^ 3 ^ 2\n") == "1:1 a = (2 ^ (3 ^ 2))\n");
  CHECK(parsed("a = 2 ^ -1\n") == "1:1 a = (2 ^ (-1))\n");
  CHECK(parsed("a = x @ W + b\n") == "1:1 a = ((x @ W) + b)\n");
  CHECK(parsed("a = 1 - 2 - 3\n") == "1:1 a = ((1 - 2) - 3)\n");
  CHECK(parsed("a = x / y * z\n") == "1:1 a = ((x / y) * z)\n");
}

TEST_CASE("parser: every statement form", "[parser]") {
  std::string src =
      "data \"d.csv\"\n"
      "input x[batch, 4]\n"
      "input label[batch] : class(3)\n"
      "param W[4, 3] = [[1, 2, 3], [4, 5, 6], [7, 8, 9], [1, 2, 3]]\n"
      "fn f(a, b) = a * b\n"
      "y = softmax(x @ W, axis = -1)\n"
      "loss = mean(y)\n"
      "metric m = loss\n"
      "metric y2\n"
      "output y\n"
      "optimizer adam(lr = 0.2 * 0.99 ^ epoch)\n"
      "train(epochs = 5, batch = 2, shuffle = false, test = \"t.csv\")\n";
  std::string out = parsed(src);
  CHECK(out.find("error") == std::string::npos);
  CHECK(out.find("2:1 input x[batch, 4]") != std::string::npos);
  CHECK(out.find("3:1 input label[batch] : class(3)") != std::string::npos);
  CHECK(out.find("fn f(a, b) = (a * b)") != std::string::npos);
  CHECK(out.find("softmax((x @ W), axis=(-1))") != std::string::npos);
  CHECK(out.find("optimizer adam(lr=(0.2 * (0.99 ^ epoch)))") != std::string::npos);
  CHECK(out.find("train(epochs=5, batch=2, shuffle=false, test=\"t.csv\")") != std::string::npos);
}

TEST_CASE("parser: reports every broken line, with a caret", "[parser][diagnostics]") {
  std::string out = parsed("a = 1 +\nb = 2\nparam = 3\nc = )\n");
  CHECK(out.find("t.nn:1:8: error: expected an expression, found end of line") != std::string::npos);
  CHECK(out.find("t.nn:3:7: error: expected the param's name, found '='") != std::string::npos);
  CHECK(out.find("t.nn:4:5: error: expected an expression, found ')'\nc = )\n    ^\n") != std::string::npos);
}

TEST_CASE("parser: deep nesting is refused, not a stack overflow", "[parser][diagnostics]") {
  std::string src = "a = " + std::string(10000, '(') + "1" + std::string(10000, ')') + "\n";
  CHECK(parsed(src).find("nested more than") != std::string::npos);
}

TEST_CASE("lowering: names, shapes and their errors", "[lower][diagnostics]") {
  CHECK(errors("x = y + 1\n").find("t.nn:1:5: error: unknown name 'y'") != std::string::npos);
  CHECK(errors("param a[2, 3] = 0\nparam b[4] = 0\nc = a + b\nloss = sum(c)\n")
            .find("t.nn:3:7: error: '+': shapes [2, 3] and [4] do not broadcast") != std::string::npos);
  CHECK(errors("param a[2, 3] = 0\nparam b[2, 3] = 0\nloss = sum(a @ b)\n")
            .find("cannot multiply [2, 3] @ [2, 3]") != std::string::npos);
  CHECK(errors("param a = 1\nparam a = 2\n").find("'a' is already defined at line 1") != std::string::npos);
  CHECK(errors("exp = 1\n").find("'exp' is a builtin name") != std::string::npos);
  CHECK(errors("epoch = 1\n").find("'epoch' is a builtin name") != std::string::npos);
  CHECK(errors("param a[2] = 0\nloss = a\n").find("the loss must be a scalar") != std::string::npos);
  CHECK(errors("param a[0, 3] = 0\n").find("a dim must be at least 1") != std::string::npos);
  CHECK(errors("param a[100000000000, 5] = 0\n").find("too large") != std::string::npos);
  CHECK(errors("param a[2] = [1, 2, 3]\n").find("should have 2 elements, found 3") != std::string::npos);
  CHECK(errors("param a = 1\nloss = foo(a)\n").find("unknown function 'foo'") != std::string::npos);
  CHECK(errors("param a = 1\nloss = sum(a, axiss = 0)\n").find("'sum' has no argument 'axiss'") != std::string::npos);
  CHECK(errors("optimizer sgd()\n").find("'sgd' needs the argument 'lr'") != std::string::npos);
  CHECK(errors("param w = 1\nloss = w\nmetric loss = w\n").find("a metric cannot be named 'loss'") != std::string::npos);
  CHECK(errors("input x[batch, 2]\nparam w[2] = 0\nloss = mean(x)\nm = concat(x, x, axis = 0)\n")
            .find("concat: cannot join along batch") != std::string::npos);
}

TEST_CASE("lowering: fn inlining, including fn calling fn", "[lower]") {
  CHECK(errors("fn sq(a) = a * a\nfn f(a, b) = sq(a) + b\nparam w = 1\nloss = f(w, 2)\n").empty());
  CHECK(errors("fn f(a) = a\nparam w = 1\nloss = f(w, w)\n").find("'f' takes 1 argument, got 2") != std::string::npos);
  for (const char* test : {"5", "0.2", "\"t.csv\""})
    CHECK(errors(std::string("param w = 1\nloss = square(w)\noptimizer sgd(lr = 0.1)\ntrain(test = ") + test + ")\n")
              .find("the model has no inputs, so it has no rows to test on") != std::string::npos);
  // A fn whose declaration is an error: its calls are not errors of their own.
  for (const char* broken : {"fn f(a, a) = a * 2\nparam w = 1\nloss = f(w, w)\n", "fn f(epoch) = 2\nparam w = 1\nloss = f(w)\n"}) {
    std::string e = errors(broken);
    INFO(broken << e);
    CHECK(!e.empty());
    CHECK(e.find("unknown function") == std::string::npos);
  }
  std::string recursive = errors("fn f(a) = f(a)\nparam w = 1\nloss = f(w)\n");
  CHECK(recursive.find("nest too deeply") != std::string::npos);
  // One note for the recursive call, one for the call that started it: not one per level.
  size_t notes = 0;
  for (size_t at = recursive.find("in this call to 'f'"); at != std::string::npos; at = recursive.find("in this call to 'f'", at + 1))
    ++notes;
  CHECK(notes == 2);
}

TEST_CASE("lowering: matmul forms and broadcasting with batch", "[lower][shape]") {
  std::string src =
      "input x[batch, 4]\nparam W[4, 3] = 0\nparam v[4] = 0\nparam u[3] = 0\n"
      "a = x @ W\nb = v @ W\nc = W @ u\nd = v @ v\nloss = mean(a) + sum(b) + sum(c) + d\n";
  DiagnosticEngine diags("t.nn", src);
  Model m = lowerToGraph(parse(lex(src, diags), diags), "t.nn", diags);
  REQUIRE(!diags.hasErrors());
  CHECK(m.loss != kNoNode);
  CHECK(m.graph.shape(m.loss).isScalar());
}

TEST_CASE("lowering: fn parameters and inputs are checked", "[lower][diagnostics]") {
  CHECK(errors("fn f(exp) = exp\n").find("'exp' is a builtin name and cannot name a parameter") != std::string::npos);
  CHECK(errors("fn f(a, a) = a\n").find("parameter 'a' appears twice") != std::string::npos);
  CHECK(errors("input x[4]\n").find("t.nn:1:9: error: an input's first dim must be 'batch'") != std::string::npos);
  CHECK(errors("input x[4, batch]\n").find("'batch' may only be the first dim") != std::string::npos);
}

TEST_CASE("lowering: train(test = N) too large for any data is a diagnostic", "[lower][diagnostics]") {
  // Found by FuzzFrontEnd: the count was converted to an integer it does not fit.
  CHECK(errors("train(epochs = 1, test = 1e300)\n").find("test must be a whole row count") != std::string::npos);
  CHECK(errors("train(epochs = 1, test = 1e400)\n").find("too large") != std::string::npos);
}
