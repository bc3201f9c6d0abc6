// EmitTest: `nnjit show --emit STAGE` prints each stage of the pipeline; the expected text is here, as in FileCheck tests.
#include "Helpers.h"

using namespace nnjit::e2e;

namespace {

/// `nnjit show MODEL --emit STAGE`, which must succeed.
std::string emit(const Scratch& s, const std::string& model, const std::string& stage) {
  Output o = s.nnjit({"show", model, "--emit", stage});
  INFO(o.err);
  REQUIRE(o.status == 0);
  CHECK(o.err.empty());
  return o.out;
}

const char* kLinear = R"(input x[batch, 3]
input t[batch, 2]
param W[3, 2] = 0.5
param b[2] = 0
z = relu(x @ W + b)
loss = mean(square(z - t))
optimizer sgd(lr = 0.1)
train(epochs = 1)
)";

} // namespace

TEST_CASE("emit: ast, graph, grad and opt of quadratic.nn", "[e2e][emit]") {
  Scratch s;
  s.copy("examples/quadratic.nn", "quadratic.nn");
  CHECK(emit(s, "quadratic.nn", "ast") == R"(2:1 param w = 5
3:1 loss = square((w + 1))
4:1 metric w
5:1 optimizer sgd(lr=0.2)
6:1 train(epochs=40)
)");
  CHECK(emit(s, "quadratic.nn", "graph") == R"(%0 = param "w" : []
%1 = const 1 : []
%2 = + %0, %1 : []
%3 = square %2 : []
roots: %3 %0
loss = %3
metric w = %0
)");
  // Autodiff's graph, with the sgd update, before the passes tidy it: 1 * (2 * (w + 1)).
  CHECK(emit(s, "quadratic.nn", "grad") == R"(%0 = param "w" : []
%1 = const 1 : []
%2 = + %0, %1 : []
%3 = square %2 : []
%4 = const 0.2 : []
%5 = const 2 : []
%6 = * %5, %2 : []
%7 = * %1, %6 : []
%8 = * %4, %7 : []
%9 = - %0, %8 : []
roots: %3 %9 %0 %3 %0
nnjit_train_step: loss = %3 w <- %9
nnjit_param_metrics: w = %0
nnjit_eval: loss = %3 w = %0
)");
  CHECK(emit(s, "quadratic.nn", "opt") == R"(%0 = param "w" : []
%1 = const 1 : []
%2 = + %0, %1 : []
%3 = square %2 : []
%4 = const 0.2 : []
%5 = const 2 : []
%6 = * %5, %2 : []
%7 = * %4, %6 : []
%8 = - %0, %7 : []
roots: %3 %8 %0 %3 %0
nnjit_train_step: loss = %3 w <- %8
nnjit_param_metrics: w = %0
nnjit_eval: loss = %3 w = %0
)");
}

TEST_CASE("emit: the schedule shows kernels, epilogues in a matmul's tile, in-place updates and the arena", "[e2e][emit]") {
  Scratch s;
  s.write("linear.nn", kLinear);
  CHECK(emit(s, "linear.nn", "schedule") == R"(function nnjit_train_rows
  kernel %5 = + %4, %3 : [batch, 2]
    reads %0 %2 %3; result in arena at 0 + 0*batch; in the tile of %4
  kernel %7 = - %6, %1 : [batch, 2]
    reads %5 %1; result in arena at 0 + 16*batch
  kernel %9 = sum %8 {0, 1} : []
    reads %7; result in slot train.sum.0
  kernel %24 = select %16, %23, %15 : [batch, 2]
    reads %5 %18 %7; result in arena at 0 + 32*batch
  kernel %25 = sum %24 {0} : [2]
    reads %24; result in slot train.sum.1
  kernel %26 = @ %17, %24 : [3, 2]
    reads %0 %24; result in slot train.sum.2
  arena: 0 + 48*batch elements

function nnjit_train_finish
  kernel %31 = / %30, %18 : []
    reads %27 %18; result in slot loss
  guard: the rest runs only when the loss is finite
  kernel %33 = - %2, %32 : [3, 2]
    reads %2 %29; result in slot W (updated in place)
  kernel %35 = - %3, %34 : [2]
    reads %3 %28; result in slot b (updated in place)
  arena: 0 + 0*batch elements

function nnjit_eval_rows
  kernel %4 = @ %0, %2 : [batch, 2]
    reads %0 %2; result in arena at 32 + 0*batch
  kernel %9 = sum %8 {0, 1} : []
    reads %4 %3 %1; result in arena at 0
  kernel %37 = + %36, %9 : []
    reads %36 %9; result in arena at 16
  update slot eval.sum.0 <- %37
  arena: 32 + 16*batch elements

function nnjit_eval_finish
  kernel %39 = / %38, %11 : []
    reads %36; result in slot loss
  arena: 0 + 0*batch elements
)");
}

TEST_CASE("emit: ir is nnjit's LLVM IR before LLVM's optimizer, asm the native code", "[e2e][emit]") {
  Scratch s;
  s.write("linear.nn", kLinear);
  std::string ir = emit(s, "linear.nn", "ir");
  CHECK(contains(ir, "define void @nnjit_train_rows(ptr %0, i64 %1)"));
  CHECK(contains(ir, "define void @nnjit_train_finish(ptr %0, i64 %1)"));
  CHECK(contains(ir, "define void @nnjit_eval_rows(ptr %0, i64 %1)"));
  // A scalar kernel is still a function of its own: LLVM's inliner has not run.
  CHECK(contains(ir, "define internal void @nnjit_train_finish.31.Div("));
  // The others are functions that entry points call by name (ModulePlan.h),
  // through the workers: a kernel that splits into units only by its range
  // function, into which it is inlined (one function for the backend, not two).
  const std::string shared = "define hidden void @nnjit.k0.5.Add.range(";
  CHECK(contains(ir, shared));
  CHECK(contains(ir, "define internal void @nnjit.k0.5.Add("));
  CHECK(contains(ir, "@nnjit.k0.5.Add.range, ptr %args"));
  Output optimized = s.nnjit({"show", "linear.nn", "--ir"});
  REQUIRE(optimized.status == 0);
  CHECK_FALSE(contains(optimized.out, "define internal void @nnjit_train_finish.31.Div("));
  CHECK_FALSE(contains(optimized.out, "define internal void @nnjit.k0.5.Add("));
  CHECK(contains(optimized.out, shared));
  std::string assembly = emit(s, "linear.nn", "asm");
  CHECK(contains(assembly, "nnjit_train_finish:"));
  CHECK(contains(assembly, ".text"));
}

TEST_CASE("emit: --dtype f64 reaches the stages that depend on it", "[e2e][emit]") {
  Scratch s;
  s.write("linear.nn", kLinear);
  Output ir = s.nnjit({"show", "linear.nn", "--emit", "ir", "--dtype", "f64"});
  REQUIRE(ir.status == 0);
  CHECK(contains(ir.out, "double"));
}

TEST_CASE("emit: a stage name that does not exist, or --emit with another mode, is a usage error", "[e2e][emit]") {
  Scratch s;
  s.write("linear.nn", kLinear);
  Output typo = s.nnjit({"show", "linear.nn", "--emit", "shedule"});
  CHECK(typo.status == 2);
  CHECK(contains(typo.err, "'shedule' is not ast, graph, grad, opt, schedule, ir or asm; did you mean 'schedule'?"));
  Output both = s.nnjit({"show", "linear.nn", "--emit", "ir", "--asm"});
  CHECK(both.status == 2);
  CHECK(contains(both.err, "excludes"));
}

TEST_CASE("emit: a model with a shape error gets its diagnostic, not a stage", "[e2e][emit]") {
  Scratch s;
  s.write("bad.nn", "input x[batch, 3]\nparam W[4, 2] = 0.5\nloss = mean(x @ W)\n");
  Output o = s.nnjit({"show", "bad.nn", "--emit", "graph"});
  CHECK(o.status == 1);
  requireDiagnostic(o.err, "bad.nn", 3, 15, "loss = mean(x @ W)");
  CHECK(o.out.empty());
}

TEST_CASE("emit: --time-report lists every stage of the pipeline in order", "[e2e][emit]") {
  Scratch s;
  s.copy("examples/quadratic.nn", "quadratic.nn");
  Output o = s.shell("NNJIT_CACHE=0 \"$NNJIT\" train quadratic.nn --time-report --log json");
  INFO(o.err);
  REQUIRE(o.status == 0);
  std::string stages;
  for (const std::string& line : textLines(o.err))
    if (startsWith(line, "stages (ms): ")) stages = line;
  std::vector<std::string> order{"lex",          "parse",   "lower",       "stable logs", "autodiff", "constant folding",
                                 "simplify",     "dead node elimination",  "fusion", "in place updates", "merged updates",
                                 "memory plan",  "JIT setup", "codegen",   "LLVM optimize",    "native code", "link"};
  size_t at = 0;
  for (const std::string& stage : order) {
    INFO(stage << " in " << stages);
    size_t found = stages.find(stage + " ", at);
    REQUIRE(found != std::string::npos);
    at = found;
  }
}

TEST_CASE("emit: NNJIT_PERF_MAP=1 names every kernel in /tmp/perf-PID.map, with the code in several modules", "[e2e][emit]") {
  // The digits MLP is dealt into one module per core; the map used to be
  // written after each module's link, when its calls into the next were
  // still unresolved, and the run failed.
  Scratch s;
  s.copy("bench/models/digits_mlp.nn", "digits_mlp.nn");
  s.copy("examples/digits.csv", "digits.csv");
  Output o = s.shell("NNJIT_CACHE=0 NNJIT_PERF_MAP=1 \"$NNJIT\" train digits_mlp.nn --data digits.csv --epochs 1 "
                     "--log json & pid=$!; wait $pid; status=$?; map=/tmp/perf-$pid.map; cat \"$map\"; rm -f \"$map\"; "
                     "exit $status");
  INFO(o.err);
  REQUIRE(o.status == 0);
  CHECK(o.err.empty());
  CHECK(contains(o.out, " nnjit_train_rows\n"));
  CHECK(contains(o.out, ".MatMul\n"));
}
