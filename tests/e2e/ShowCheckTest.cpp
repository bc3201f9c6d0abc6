// ShowCheckTest: `nnjit check` (gradient check) and `nnjit show` (dot, LLVM IR, asm).
#include "Helpers.h"

#include <cstdlib>

using namespace nnjit::e2e;

namespace {

Output show(Scratch& s, const std::string& model, const std::string& mode) {
  return s.nnjit({"show", model, mode});
}

void copyExamples(Scratch& s) {
  s.copy("examples/iris.nn", "iris.nn");
  s.copy("examples/iris.csv", "iris.csv");
  s.copy("examples/quadratic.nn", "quadratic.nn");
}

} // namespace

TEST_CASE("check: iris.nn and quadratic.nn pass and report each param", "[e2e][check]") {
  Scratch s;
  copyExamples(s);
  Output iris = s.nnjit({"check", "iris.nn"});
  INFO(iris.err);
  CHECK(iris.status == 0);
  CHECK(contains(iris.out, "PASS"));
  CHECK(contains(iris.out, "W"));
  CHECK(contains(iris.out, "b"));
  Output quad = s.nnjit({"check", "quadratic.nn"});
  INFO(quad.err);
  CHECK(quad.status == 0);
  CHECK(contains(quad.out, "PASS"));
  CHECK(contains(quad.out, "w"));
}

TEST_CASE("check: a model using many builtins passes", "[e2e][check]") {
  Scratch s;
  s.copy("examples/iris.csv", "iris.csv");
  s.write("m.nn", "data \"iris.csv\"\n"
                  "input x[batch, 4]\n"
                  "input label[batch] : class(3)\n"
                  "param W1[4, 5] = glorot\n"
                  "param b1[5] = 0.1\n"
                  "param W2[5, 3] = he\n"
                  "param c[3] = [0.5, -0.25, 1]\n"
                  "fn dense(a, w, b) = a @ w + b\n"
                  "h = tanh(dense(x, W1, b1)) + sigmoid(x @ W1) * softplus(x @ W1)\n"
                  "z = h @ W2 + c\n"
                  "loss = cross_entropy(z, label) + 0.01 * l2(W1) + 0.1 * mse(softmax(z), onehot(label, 3))\n"
                  "metric acc = accuracy(z, label)\n"
                  "optimizer adam(lr = 0.01)\n"
                  "train(epochs = 2, batch = 16)\n");
  Output o = s.nnjit({"check", "m.nn"});
  INFO(o.out << o.err);
  CHECK(o.status == 0);
  CHECK(contains(o.out, "PASS"));
  for (std::string p : {"W1", "b1", "W2"}) CHECK(contains(o.out, p));
}

TEST_CASE("show: --graph and --grad print Graphviz dot", "[e2e][show]") {
  Scratch s;
  copyExamples(s);
  for (std::string model : {"iris.nn", "quadratic.nn"}) {
    for (std::string mode : {"--graph", "--grad"}) {
      INFO(model << " " << mode);
      Output o = show(s, model, mode);
      INFO(o.err);
      REQUIRE(o.status == 0);
      size_t start = o.out.find_first_not_of(" \t\r\n");
      REQUIRE(start != std::string::npos);
      CHECK(o.out.compare(start, 7, "digraph") == 0);
      CHECK(contains(o.out, "}"));
      if (std::filesystem::exists("/usr/bin/dot")) {
        s.write("g.dot", o.out);
        std::string cmd = "/usr/bin/dot -Tsvg " + s.path("g.dot") + " -o " + s.path("g.svg") + " 2>/dev/null";
        CHECK(std::system(cmd.c_str()) == 0);
        CHECK(contains(s.read("g.svg"), "<svg"));
      }
    }
  }
}

TEST_CASE("show: --graph renders with dot", "[e2e][show]") {
  if (!std::filesystem::exists("/usr/bin/dot")) {
    WARN("skipped: /usr/bin/dot is not installed");
    return;
  }
  Scratch s;
  copyExamples(s);
  Output o = show(s, "iris.nn", "--grad");
  REQUIRE(o.status == 0);
  s.write("g.dot", o.out);
  std::string cmd = "/usr/bin/dot -Tsvg " + s.path("g.dot") + " -o " + s.path("g.svg") + " 2>/dev/null";
  CHECK(std::system(cmd.c_str()) == 0);
}

TEST_CASE("show: --ir prints LLVM IR", "[e2e][show]") {
  Scratch s;
  copyExamples(s);
  Output o = show(s, "iris.nn", "--ir");
  INFO(o.err);
  REQUIRE(o.status == 0);
  CHECK(contains(o.out, "define void @nnjit_train_rows(ptr"));
  CHECK(contains(o.out, "define void @nnjit_train_finish(ptr"));
  CHECK(contains(o.out, "define void @nnjit_eval_rows(ptr"));
  CHECK(contains(o.out, "define void @nnjit_eval_finish(ptr"));
  // The printed IR is a whole, valid module: LLVM's own assembler (with its
  // verifier) reads it back.
  const char* llvmAs = "/usr/lib/llvm-19/bin/llvm-as";
  if (!std::filesystem::exists(llvmAs)) {
    WARN("llvm-as not installed; IR not re-verified");
    return;
  }
  s.write("m.ll", o.out);
  std::string cmd = std::string(llvmAs) + " " + s.path("m.ll") + " -o " + s.path("m.bc");
  CHECK(std::system(cmd.c_str()) == 0);
}

TEST_CASE("show: --asm prints native code", "[e2e][show]") {
  Scratch s;
  copyExamples(s);
  Output o = show(s, "quadratic.nn", "--asm");
  INFO(o.err);
  REQUIRE(o.status == 0);
  CHECK(!o.out.empty());
  CHECK(o.out.size() > 20);
}

TEST_CASE("show and check: a model error is a diagnostic with exit 1", "[e2e][show]") {
  Scratch s;
  s.write("m.nn", "param w = 5\nloss = square(v + 1)\n");
  CHECK(s.nnjit({"show", "m.nn", "--graph"}).status == 1);
  Output c = s.nnjit({"check", "m.nn"});
  CHECK(c.status == 1);
  requireDiagnostic(c.err, "m.nn", 2, 15, "loss = square(v + 1)");
}

TEST_CASE("check fails, naming the param, when a gradient rule is wrong", "[e2e][check]") {
  Scratch s;
  s.copy("examples/iris.nn", "iris.nn");
  s.copy("examples/iris.csv", "iris.csv");
  Output good = s.nnjit({"check", "iris.nn"});
  CHECK(good.status == 0);
  for (const char* op : {"Exp", "MatMul", "Div", "Square"}) {
    Output bad = s.nnjit({"check", "iris.nn", "--test-break-gradient", op});
    INFO(op << "\n" << bad.out << bad.err);
    CHECK(bad.status == 1);
    CHECK(bad.out.find("FAIL") != std::string::npos);
    CHECK(bad.out.find("WRONG") != std::string::npos);
  }
}

TEST_CASE("check: tolerance and step scale with the loss and with each value", "[e2e][check]") {
  // Both passed correct gradients as WRONG: a loss of 1.5e9 rounds at 1e-7,
  // which a fixed step of 1e-6 turned into an error larger than the gradient
  // of an element of 0.001; a step of 1 at w = 1e6 misses cos by 16%.
  Scratch s;
  std::string row = "[";
  for (int j = 0; j < 65; ++j) row += j % 2 ? "0.001, " : "1000, ";
  row.replace(row.size() - 2, 2, "]");
  std::string rows = "[";
  for (int i = 0; i < 45; ++i) rows += row + (i < 44 ? ", " : "]");
  s.write("big.nn", "param a[45, 65] = " + rows + "\nloss = sum(square(a))\n");
  Output big = s.nnjit({"check", "big.nn"});
  INFO(big.out << big.err);
  CHECK(big.status == 0);
  CHECK(contains(big.out, "PASS"));
  s.write("cos.nn", "param w = 1000000\nparam v[2] = [100000, 2]\nloss = cos(w) + sum(square(v))\n");
  Output cos = s.nnjit({"check", "cos.nn"});
  INFO(cos.out << cos.err);
  CHECK(cos.status == 0);
  // Wide tolerances still catch a wrong rule where the loss is large.
  Output broken = s.nnjit({"check", "big.nn", "--test-break-gradient", "Square"});
  CHECK(broken.status == 1);
  CHECK(contains(broken.out, "WRONG"));
}

TEST_CASE("check: a NaN gradient is reported as nan, not as an error of 0", "[e2e][check]") {
  Scratch s;
  // d/dw sqrt(w^2) at 0 is 0 / 0 symbolically; central differences give 0.
  s.write("m.nn", "param w = 0\nparam v = 2\nloss = sqrt(square(w)) + square(v)\n");
  Output o = s.nnjit({"check", "m.nn"});
  INFO(o.out << o.err);
  CHECK(o.status == 1);
  auto lines = textLines(o.out);
  REQUIRE(lines.size() == 4);
  CHECK(contains(lines[1], "max abs error nan  max rel error nan  WRONG"));
  CHECK(contains(lines[2], "ok"));
  CHECK(lines[3] == "FAIL");
}

TEST_CASE("check and train: transpose(x) @ x contracts over the batch", "[e2e][check]") {
  Scratch s;
  s.write("g.csv", "1,2\n3,4\n5,6\n0.5,-1\n");
  s.write("m.nn", "data \"g.csv\"\ninput x[batch, 2]\nparam W[2, 2] = [[0.1, 0], [0, 0.1]]\n"
                  "loss = mean(square(transpose(x @ W) @ x - 1))\noptimizer sgd(lr = 0.0001)\ntrain(epochs = 1)\n");
  Output check = s.nnjit({"check", "m.nn"});
  INFO(check.out << check.err);
  CHECK(check.status == 0);
  CHECK(contains(check.out, "PASS"));
  // The Gram matrix of the 4 rows is [[35.25, 43.5], [43.5, 57]].
  double want = 0;
  for (double g : {35.25, 43.5, 43.5, 57.0}) want += (0.1 * g - 1) * (0.1 * g - 1) / 4;
  for (const char* dtype : {"f32", "f64"}) {
    Output o = s.nnjit({"train", "m.nn", "--log", "json", "--dtype", dtype});
    INFO(dtype << "\n" << o.err);
    REQUIRE(o.status == 0);
    auto lines = epochLines(o.out);
    REQUIRE(lines.size() == 1);
    CHECK(near(lines[0]["loss"].get<double>(), want, 1e-6));
  }
}

TEST_CASE("show --summary: params with shapes and counts, values, a train step's arithmetic and memory",
          "[e2e][show]") {
  Scratch s;
  s.copy("examples/iris.nn", "iris.nn");
  s.copy("examples/iris.csv", "iris.csv");
  Output o = s.nnjit({"show", "iris.nn", "--summary"});
  INFO(o.err);
  REQUIRE(o.status == 0);
  CHECK(contains(o.out, "  x       [batch, 4]\n"));
  CHECK(contains(o.out, "  label   [batch] : class(3)\n"));
  CHECK(contains(o.out, "  W       [4, 3]                        12\n"));
  CHECK(contains(o.out, "  total                                 15\n"));
  CHECK(contains(o.out, "  y       [batch, 3]\n"));
  // x @ W: 24 multiply-adds a row forward, 24 for dW; the rest is elementwise.
  CHECK(contains(o.out, "train step: 108 FLOP per row"));
  CHECK(contains(o.out, "train step by chunks of 32 rows: threads and mpirun processes share them out\n"));
  CHECK(contains(o.out, "memory: "));
  CHECK(contains(o.out, "for batches of 32 rows"));
  Output both = s.nnjit({"show", "iris.nn", "--summary", "--graph"});
  CHECK(both.status == 2);
}

TEST_CASE("show: pictures name the source's values and draw gradient nodes apart", "[e2e][show]") {
  Scratch s;
  copyExamples(s);
  Output graph = show(s, "iris.nn", "--graph");
  REQUIRE(graph.status == 0);
  // y = softmax(...) is one box (collapsed), or a cluster whose last op, a division, is y.
  CHECK(contains(graph.out, "label=\"y = softmax\\n[batch, 3]\\nline 7\", shape=box3d"));
  CHECK_FALSE(contains(graph.out, "color=blue"));
  Output expanded = s.nnjit({"show", "iris.nn", "--graph", "--expand"});
  REQUIRE(expanded.status == 0);
  CHECK(contains(expanded.out, "label=\"y = /\\n[batch, 3]\\nline 7\""));
  Output grad = show(s, "iris.nn", "--grad");
  REQUIRE(grad.status == 0);
  CHECK(contains(grad.out, "style=dashed, color=blue"));
}

TEST_CASE("show: a chain of reshapes is drawn as one reshape, and one back to the same shape as none", "[e2e][show]") {
  Scratch s;
  s.write("m.nn", "input x[batch, 4]\n"
                  "y = reshape(reshape(x, [batch, 2, 2]), [batch, 1, 4])\n"
                  "z = reshape(reshape(y, [batch, 2, 2]), [batch, 4])\n"
                  "loss = sum(z) + sum(y)\n");
  Output o = show(s, "m.nn", "--graph");
  INFO(o.err);
  REQUIRE(o.status == 0);
  // z is x again (its chain ends in x's shape), so x's box carries z's name.
  CHECK(o.out == R"(digraph "m.nn" {
  rankdir=TB;
  node [shape=box, fontname="monospace"];
  n0 [label="z = input x\n[batch, 4]\nline 1", style=rounded];
  n2 [label="y = reshape\n[batch, 1, 4]\nline 2"];
  n0 -> n2;
  n5 [label="sum\n[]\nline 4"];
  n0 -> n5;
  n6 [label="sum\n[]\nline 4"];
  n2 -> n6;
  n7 [label="+\n[]\nline 4"];
  n5 -> n7;
  n6 -> n7;
  r0 [label="loss", shape=ellipse];
  n7 -> r0;
}
)");
}

namespace {

// A fn called twice, on lines 6 and 7, with a builtin inside it; a builtin
// whose argument is another call.
const char* kCalls = R"(input x[batch, 4]
input label[batch] : class(3)
param W1[4, 8] = glorot
param W2[8, 3] = glorot
fn dense(h, w) = softmax(h @ w) * 2
h1 = dense(x, W1)
logits = dense(h1, W2)
loss = cross_entropy(logits, label) + mean(square(logits))
)";

bool renders(Scratch& s, const std::string& dot) {
  if (!std::filesystem::exists("/usr/bin/dot")) return true;
  s.write("c.dot", dot);
  std::string cmd = "/usr/bin/dot -Tsvg " + s.path("c.dot") + " -o " + s.path("c.svg") + " 2>/dev/null";
  return std::system(cmd.c_str()) == 0;
}

} // namespace

TEST_CASE("show: builtin and fn calls are one box each, labelled with the call's line", "[e2e][show]") {
  Scratch s;
  s.write("m.nn", kCalls);
  Output o = show(s, "m.nn", "--graph");
  INFO(o.err << o.out);
  REQUIRE(o.status == 0);
  CHECK(contains(o.out, "label=\"h1 = dense\\n[batch, 8]\\nline 6\", shape=box3d"));
  CHECK(contains(o.out, "label=\"logits = dense\\n[batch, 3]\\nline 7\", shape=box3d"));
  CHECK(contains(o.out, "label=\"cross_entropy\\n[]\\nline 8\", shape=box3d"));
  CHECK(contains(o.out, "label=\"mean\\n[]\\nline 8\", shape=box3d"));
  // What the calls are made of is inside their boxes; a call of one op is that op.
  CHECK_FALSE(contains(o.out, "label=\"exp"));
  CHECK_FALSE(contains(o.out, "softmax"));
  CHECK(contains(o.out, "label=\"square\\n[batch, 3]\\nline 8\"];"));
  CHECK_FALSE(contains(o.out, "subgraph"));
  CHECK(renders(s, o.out));
}

TEST_CASE("show --expand: each call is a cluster of its ops, nested as the calls are", "[e2e][show]") {
  Scratch s;
  s.write("m.nn", kCalls);
  Output o = s.nnjit({"show", "m.nn", "--graph", "--expand"});
  INFO(o.err << o.out);
  REQUIRE(o.status == 0);
  CHECK(contains(o.out, "label=\"dense, line 6\";"));
  CHECK(contains(o.out, "label=\"dense, line 7\";"));
  CHECK(contains(o.out, "label=\"cross_entropy, line 8\";"));
  CHECK_FALSE(contains(o.out, "shape=box3d"));
  // softmax inside dense is a cluster inside dense's, once per call of dense.
  size_t first = o.out.find("label=\"dense, line 6\";"), inner = o.out.find("label=\"softmax, line 5\";", first);
  REQUIRE(inner != std::string::npos);
  CHECK(o.out.find("label=\"dense, line 7\";") > inner);
  CHECK(o.out.find("label=\"softmax, line 5\";", inner + 1) != std::string::npos);
  CHECK(contains(o.out, "label=\"exp\\n[batch, 8]\\nline 5\"];"));
  CHECK(renders(s, o.out));
  // The gradient picture keeps the forward calls and draws the gradient apart.
  Output grad = s.nnjit({"show", "m.nn", "--grad"});
  REQUIRE(grad.status == 0);
  CHECK(contains(grad.out, "shape=box3d"));
  CHECK(contains(grad.out, "style=dashed, color=blue"));
  CHECK(renders(s, grad.out));
}

TEST_CASE("show: a leaf a call shares with the rest stays outside its box", "[e2e][show]") {
  Scratch s;
  s.copy("examples/iris.nn", "iris.nn");
  Output o = show(s, "iris.nn", "--graph");
  REQUIRE(o.status == 0);
  // mean and accuracy both divide by the batch size: it is drawn once, outside both boxes.
  size_t box = o.out.find("label=\"batch_size");
  REQUIRE(box != std::string::npos);
  size_t line = o.out.rfind('\n', box) + 3;  // past "\n  "
  std::string id = o.out.substr(line, o.out.find(' ', line) - line);
  CHECK(contains(o.out, "  " + id + " -> c"));
  CHECK_FALSE(contains(o.out, "  c1 -> c"));  // no arrow from mean's box to accuracy's
}

TEST_CASE("show: --expand without --graph or --grad is a usage error", "[e2e][show]") {
  Scratch s;
  s.write("m.nn", kCalls);
  Output o = s.nnjit({"show", "m.nn", "--ir", "--expand"});
  CHECK(o.status == 2);
  CHECK(contains(o.err, "--expand goes with --graph or --grad"));
}

TEST_CASE("check: a loss that is not finite at the initial params says so instead of failing every gradient",
          "[e2e][check]") {
  Scratch s;
  s.write("m.nn", "param w = -1\nloss = sqrt(w) + square(w)\n");
  Output o = s.nnjit({"check", "m.nn"});
  CHECK(o.status == 1);
  CHECK(contains(o.err, "m.nn: error: the loss is nan at the initial params, so no gradient can be checked"));
  CHECK(o.out == "FAIL\n");
}
