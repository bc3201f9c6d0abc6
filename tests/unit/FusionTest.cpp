// FusionTest: which nodes get a buffer, and which elementwise work rides in a matmul's tile.
#include "Builder.h"
#include "Compiler.h"
#include "TestSupport.h"
#include "passes/Fusion.h"
#include "passes/Passes.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <sstream>

using namespace nnjit;

namespace {

struct Mlp {
  Graph g;
  Builder b{g};
  NodeId x, w, bias, product, z, y;
  Mlp() {
    x = b.make(Op::Input, {}, Attrs{0, {}, "x"}, Shape{kBatch, 37});
    w = b.make(Op::Param, {}, Attrs{0, {}, "W"}, Shape{37, 19});
    bias = b.make(Op::Param, {}, Attrs{0, {}, "b"}, Shape{19});
    product = b.matmul(x, w);
    z = b.add(product, b.broadcastTo(bias, Shape{kBatch, 19}));
    y = b.unary(Op::Relu, z);
  }
  bool inSlot(NodeId n) const { return n == x || n == w || n == bias; }
};

} // namespace

TEST_CASE("fusion: relu(x @ W + b) is one kernel, the matmul's tile with the bias and relu applied", "[fusion]") {
  Mlp m;
  Schedule s = planFusion(m.g, {m.y}, [&](NodeId n) { return m.inSlot(n); });
  CHECK(s.epilogueOf[m.y] == m.product);
  CHECK_FALSE(s.materialized[m.product]);
  CHECK_FALSE(s.materialized[m.z]);
  REQUIRE(s.kernels.size() == 1);
  CHECK(s.kernels[0] == m.y);
}

TEST_CASE("fusion: a convolution's bias and relu ride in its matmul's tile, seen through the image reshape", "[fusion]") {
  Graph g;
  Builder b(g);
  NodeId x = b.make(Op::Input, {}, Attrs{0, {}, "x"}, Shape{kBatch, 6, 6, 3});
  NodeId k = b.make(Op::Param, {}, Attrs{0, {}, "K"}, Shape{27, 8});
  NodeId bias = b.make(Op::Param, {}, Attrs{0, {}, "b"}, Shape{8});
  Attrs window;
  window.ints = {3, 3, 1, 1, 1, 1};
  NodeId patches = b.make(Op::Patches, {x}, window, Shape{kBatch, 6, 6, 3, 3, 3});
  NodeId product = b.matmul(b.reshape(patches, Shape{batchTimes(36), 27}), k);
  NodeId image = b.reshape(product, Shape{kBatch, 6, 6, 8});
  NodeId y = b.unary(Op::Relu, b.add(image, b.broadcastTo(bias, Shape{kBatch, 6, 6, 8})));
  Schedule s = planFusion(g, {y}, [&](NodeId n) { return n == x || n == k || n == bias; });
  CHECK(s.epilogueOf[y] == product);
  CHECK(s.epilogueTile[y] == image);
  CHECK(s.materialized[patches]);  // in its own shape: the reshape is a view of it
  CHECK_FALSE(s.materialized[product]);
  REQUIRE(s.kernels.size() == 2);
}

TEST_CASE("fusion: a matmul whose value is read twice keeps its buffer", "[fusion]") {
  Mlp m;
  NodeId twice = m.b.mul(m.product, m.product);
  Schedule s = planFusion(m.g, {twice}, [&](NodeId n) { return m.inSlot(n); });
  CHECK(s.materialized[m.product]);
  CHECK(s.epilogueOf[twice] == kNoNode);
}

TEST_CASE("fusion: an epilogue that broadcasts the product, or a product that is a root, is not fused", "[fusion]") {
  Mlp m;
  NodeId rowSums = m.b.sum(m.product, {1});
  Schedule s = planFusion(m.g, {rowSums, m.product}, [&](NodeId n) { return m.inSlot(n); });
  CHECK(s.materialized[m.product]);
  for (NodeId e : s.epilogueOf) CHECK(e == kNoNode);
}

TEST_CASE("fusion: a 20,000-node chain is planned without recursion, at most 128 inline nodes per kernel", "[fusion]") {
  Graph g;
  Builder b(g);
  NodeId w = b.make(Op::Param, {}, Attrs{0, {}, "w"}, Shape{});
  NodeId v = w;
  for (int i = 0; i < 20000; ++i) v = b.unary(i % 2 ? Op::Exp : Op::Neg, v);
  Schedule s = planFusion(g, {v}, [&](NodeId n) { return n == w; });
  // Every kernel reads the previous kernel's buffer (or w): chains are cut.
  REQUIRE(s.kernels.size() >= 20000 / 128);
  for (size_t k = 0; k < s.kernels.size(); ++k) {
    REQUIRE(s.reads[k].size() == 1);
    CHECK(s.kernels[k] - s.reads[k][0] <= 128 + 1);  // its own node and at most 128 inline
  }
}

TEST_CASE("in place: adam's m, v and p are computed straight into their slots, with no copies", "[fusion]") {
  nnjit::CompileOptions o;
  o.trainStep = true;
  o.keepIR = true;
  std::string src = "input x[batch, 8]\nparam W[8, 4] = 0.1\nparam b[4] = 0\n"
                    "loss = mean(square(x @ W + b))\noptimizer adam(lr = 0.01)\n";
  nnjit::DiagnosticEngine diags("test.nn", src);
  auto cm = nnjit::compileModel(src, "test.nn", o, diags);
  REQUIRE(cm);
  CHECK(cm->ir.find("nnjit_train_finish.update") == std::string::npos);
  CHECK(cm->ir.find("nnjit_train_finish") != std::string::npos);
}

TEST_CASE("simplify: dZ @ transpose(W) of a large W becomes transpose(W @ transpose(dZ))", "[fusion][simplify]") {
  auto optimized = [](int64_t n, int64_t k) {
    Program p;
    Builder b(p.graph);
    NodeId dz = b.make(Op::Input, {}, Attrs{0, {}, "dz"}, Shape{kBatch, n});
    NodeId w = b.make(Op::Param, {}, Attrs{0, {}, "W"}, Shape{k, n});
    p.addRoot(b.matmul(dz, b.transpose(w)));
    optimizeGraph(p);
    return std::pair{p.graph.op(p.roots[0]), p.graph.shape(p.roots[0])};
  };
  auto [bigOp, bigShape] = optimized(1024, 3136);  // a 3.2M-element transpose per step otherwise
  CHECK(bigOp == Op::Transpose);
  CHECK(bigShape == Shape{kBatch, 3136});
  CHECK(optimized(3, 4).first == Op::MatMul);  // a small weight stays: its transpose costs less
}

TEST_CASE("simplify: transpose(A) @ B over many rows, A wide and B narrow, becomes transpose(transpose(B) @ A)",
          "[fusion][simplify]") {
  // A convolution's weight gradient: patches [batch*196, 800] against dY [batch*196, 64].
  auto optimized = [](int64_t rowsPerImage, int64_t m, int64_t n) {
    Program p;
    Builder b(p.graph);
    NodeId a = b.make(Op::Input, {}, Attrs{0, {}, "a"}, Shape{batchTimes(rowsPerImage), m});
    NodeId d = b.make(Op::Input, {}, Attrs{0, {}, "d"}, Shape{batchTimes(rowsPerImage), n});
    p.addRoot(b.matmul(b.transpose(a), d));
    optimizeGraph(p);
    const Graph& g = p.graph;
    NodeId root = p.roots[0];
    bool swapped = g.op(root) == Op::Transpose && g.op(g.node(root).inputs[0]) == Op::MatMul &&
                   g.shape(g.node(root).inputs[0]) == Shape{n, m};
    CHECK(g.shape(root) == Shape{m, n});
    return swapped;
  };
  CHECK(optimized(196, 800, 64));
  CHECK_FALSE(optimized(1, 800, 64));    // a dense layer's k is the batch: few rows
  CHECK_FALSE(optimized(196, 100, 64));  // not wide enough to pay for the transpose
}

TEST_CASE("codegen: hundreds of scalar updates of one form are one loop over their slots, with the same results",
          "[fusion][codegen]") {
  // Emitted call by call, each update was a few instructions of one basic
  // block; the backend's time grew with their number (1.4 ms a param with adam).
  nnjit::CompileOptions o;
  o.trainStep = true;
  o.keepIR = true;
  std::string src, sum = "0";
  for (int i = 0; i < 400; ++i) {
    src += "param p" + std::to_string(i) + " = " + std::to_string(0.5 + i) + "\n";
    sum += " + square(p" + std::to_string(i) + ")";
  }
  src += "loss = " + sum + "\noptimizer sgd(lr = 0.01)\n";
  nnjit::test::Compiled c(src, o);
  REQUIRE(c.ok());
  auto count = [&](const std::string& what) {
    size_t n = 0;
    for (size_t at = c.cm->ir.find(what); at != std::string::npos; at = c.cm->ir.find(what, at + 1)) ++n;
    return n;
  };
  CHECK(count("fsub float") < 4);  // one update body, not 400
  c.session->initParams(0);
  c.session->trainStep(1);
  for (int i = 0; i < 400; ++i) {
    double p = 0.5 + i;
    INFO(i);
    CHECK(c.session->read(c.cm->paramSlots[i])[0] == Approx(p - 0.01 * 2 * p).epsilon(1e-6));  // each its own slot
  }
}

TEST_CASE("fusion: a max pooling's gradient is one pass over the image, its mask recomputed where it is read",
          "[fusion][conv]") {
  // The mask `window == max` is read by its count and by the gradient; the
  // windows' gradient reaches the image through unpatch, a move of elements
  // when the windows are disjoint. Neither gets a buffer of its own.
  nnjit::CompileOptions o;
  o.trainStep = true;
  std::string src = "input x[batch, 8, 8, 4]\nparam w[4] = 0.5\n"
                    "loss = mean(square(max_pool(relu(x * w), 2)))\noptimizer sgd(lr = 0.1)\n";
  nnjit::DiagnosticEngine diags("test.nn", src);
  std::optional<std::string> schedule = nnjit::emitStage(src, "test.nn", nnjit::Stage::Schedule, o, diags);
  REQUIRE(schedule);
  INFO(*schedule);
  CHECK(schedule->find(" = == ") == std::string::npos);
  CHECK(schedule->find(" : [batch, 4, 4, 2, 2, 4]") == std::string::npos);  // no kernel in the windows' shape
  CHECK(schedule->find("sum %") != std::string::npos);                       // the count of maxima, and w's gradient
}

TEST_CASE("fusion: a Winograd convolution's output transform runs in its group product's rows", "[fusion][conv]") {
  // 14 x 14 outputs in tiles of 2 x 2 (F(2, 5)): the product's rows (tiles)
  // go through both untiles and the bias row group by row group, so neither
  // the product nor the first untile has a kernel. 15 x 15 outputs would
  // leave the last tiles' places past the image: those stay kernels.
  nnjit::CompileOptions o;
  o.trainStep = true;
  auto scheduleOf = [&](int size) {
    std::string src = fmt::format("input x[batch, {0}, {0}, 16]\nparam K[5, 5, 16, 8] = 0.1\nparam c[8] = 0\n"
                                  "loss = mean(square(relu(conv2d(x, K, padding = \"same\") + c)))\n"
                                  "optimizer sgd(lr = 0.1)\n",
                                  size);
    nnjit::DiagnosticEngine diags("test.nn", src);
    std::optional<std::string> schedule = nnjit::emitStage(src, "test.nn", nnjit::Stage::Schedule, o, diags);
    REQUIRE(schedule);
    return *schedule;
  };
  auto hasKernel = [](const std::string& schedule, const std::string& op, const std::string& shape) {
    std::istringstream lines(schedule);
    for (std::string line; std::getline(lines, line);)
      if (line.find("kernel %") != std::string::npos && line.find(" = " + op + " %") != std::string::npos &&
          line.find(" : " + shape) != std::string::npos)
        return true;
    return false;
  };
  std::string fused = scheduleOf(14), cropped = scheduleOf(15);
  INFO(fused);
  CHECK(fused.find("in the rows of %") != std::string::npos);
  CHECK_FALSE(hasKernel(fused, "@g", "[batch*49, 36, 8]"));         // the forward product
  CHECK_FALSE(hasKernel(fused, "untile", "[batch, 7, 14, 6, 8]"));  // its first untile
  INFO(cropped);
  CHECK(cropped.find("in the rows of %") == std::string::npos);
  CHECK(hasKernel(cropped, "@g", "[batch*64, 36, 8]"));
}

TEST_CASE("fusion: a reshape that regroups a transpose reads it from a buffer, so its kernel stays vectors",
          "[fusion]") {
  Graph g;
  Builder b(g);
  NodeId w = b.make(Op::Param, {}, Attrs{0, {}, "W"}, Shape{12, 6});
  NodeId t = b.transpose(w);
  NodeId y = b.mul(b.reshape(t, Shape{6, 3, 4}), b.constant(2));
  Schedule s = planFusion(g, {y}, [&](NodeId n) { return n == w; });
  CHECK(s.materialized[t]);
  NodeId view = b.mul(b.reshape(w, Shape{6, 3, 4}), b.constant(2));  // a slot's buffer is read in place
  Schedule direct = planFusion(g, {view}, [&](NodeId n) { return n == w; });
  CHECK(direct.kernels.size() == 1);
}

TEST_CASE("fusion: a weight gradient read across long rows of a wide product copies its A transposed", "[fusion]") {
  // transpose(x) @ dz reads x a column at a time: with x's rows 784 floats and
  // 512 columns of panels each reading all of A, x is copied transposed once.
  auto schedule = [](int64_t width, int64_t out) {
    std::string src = fmt::format("input x[batch, {}]\nparam W[{}, {}] = he\nloss = mean(relu(x @ W))\n"
                                  "optimizer sgd(lr = 0.1)\n",
                                  width, width, out);
    std::optional<std::string> s = nnjit::test::trainStepStage(src, Stage::Schedule);
    REQUIRE(s);
    return *s;
  };
  CHECK(schedule(784, 512).find(" = transpose %0 : [784, batch]") != std::string::npos);
  CHECK(schedule(784, 10).find(" = transpose %0 :") == std::string::npos);  // one panel: A is read once
  CHECK(schedule(48, 512).find(" = transpose %0 :") == std::string::npos);  // rows of 48: neighbours share lines
}
