// EarlyStoppingTest: train(patience = N) and --patience stop a run whose test
// loss stopped falling; --save-best keeps the state of the best epoch.
#include "Helpers.h"

using namespace nnjit::e2e;
using nlohmann::json;

namespace {

// Two training rows pull w to 1, the test row wants 0.5. Full-batch sgd with
// lr 0.1 gives w = 1 - 0.8^k after epoch k: 0.2, 0.36, 0.488, 0.59, 0.67,
// so the test loss (w - 0.5)^2 falls to 0.000144 at epoch 3, then rises.
const char* kData = "x,t\n1,1\n1,1\n1,0.5\n";

std::string overfitting(const std::string& trainArgs) {
  return "data \"d.csv\"\n"
         "input x[batch, 1]\n"
         "input t[batch, 1]\n"
         "param w = 0\n"
         "loss = mean(square(x * w - t))\n"
         "optimizer sgd(lr = 0.1)\n"
         "train(" + trainArgs + ")\n";
}

Output trainIn(const Scratch& s, const std::string& trainArgs, std::vector<std::string> extra) {
  s.write("d.csv", kData);
  s.write("m.nn", overfitting(trainArgs));
  std::vector<std::string> args = {"train", "m.nn"};
  args.insert(args.end(), extra.begin(), extra.end());
  return s.nnjit(args);
}

/// `o` ended with `status` and said `what` on stderr.
bool failedWith(const Output& o, int status, const std::string& what) {
  INFO(o.err);
  return o.status == status && contains(o.err, what);
}

/// Training with `train(trainArgs)` fails with a diagnostic saying `what`
/// and a caret at column `col` of the train line.
void requireTrainError(const Scratch& s, const std::string& trainArgs, int col, const std::string& what) {
  Output o = trainIn(s, trainArgs, {});
  CHECK(o.status == 1);
  CHECK(contains(requireDiagnostic(o.err, "m.nn", 7, col, "train(" + trainArgs + ")"), what));
}

} // namespace

TEST_CASE("early stopping: patience ends a run whose test loss rises", "[e2e][early-stop]") {
  Scratch s;
  Output o = trainIn(s, "epochs = 20, test = 1, patience = 2", {});
  INFO(o.err);
  REQUIRE(o.status == 0);
  std::vector<std::string> lines = textLines(o.out);
  REQUIRE(lines.size() == 7);  // epochs 1-5, the early stop, done
  CHECK(startsWith(lines[4], "epoch  5/20"));
  CHECK(startsWith(lines[5], "early stop: test loss has not improved for 2 epochs (best 0.00014"));
  CHECK(contains(lines[5], " at epoch 3)"));
  CHECK(startsWith(lines[6], "done: 5 epochs"));
}

TEST_CASE("early stopping: the JSON log marks best epochs and says where the run stopped", "[e2e][early-stop]") {
  Scratch s;
  Output o = trainIn(s, "epochs = 20, test = 1, patience = 2", {"--log", "json"});
  INFO(o.err);
  REQUIRE(o.status == 0);
  std::vector<json> epochs = epochLines(o.out);
  REQUIRE(epochs.size() == 5);
  for (size_t i = 0; i < epochs.size(); ++i) CHECK(epochs[i].contains("best") == (i < 3));
  json done = jsonLines(o.out).back();
  CHECK(done["epochs"] == 5);
  CHECK(done["stopped_early"] == true);
  CHECK(done["best_epoch"] == 3);
  CHECK(near(done["best_test_loss"].get<double>(), 0.000144, 1e-6));
}

TEST_CASE("early stopping: --patience overrides the model's, a run ending anyway is not early", "[e2e][early-stop]") {
  Scratch s;
  Output o = trainIn(s, "epochs = 20, test = 1, patience = 2", {"--patience", "1", "--log", "json"});
  INFO(o.err);
  REQUIRE(o.status == 0);
  CHECK(jsonLines(o.out).back()["epochs"] == 4);
  // Patience runs out at epoch 5, the last one anyway: the run ends as planned.
  o = trainIn(s, "epochs = 5, test = 1, patience = 2", {});
  REQUIRE(o.status == 0);
  CHECK(!contains(o.out, "early stop"));
  CHECK(contains(o.out, "done: 5 epochs"));
  o = trainIn(s, "epochs = 5, test = 1, patience = 2", {"--log", "json"});
  CHECK(jsonLines(o.out).back()["stopped_early"] == false);
}

TEST_CASE("early stopping: --save-best holds the state after the best epoch, --save the last", "[e2e][early-stop]") {
  Scratch s;
  Output o = trainIn(s, "epochs = 8, test = 1", {"--save-best", "best.safetensors", "--save", "last.safetensors"});
  INFO(o.err);
  REQUIRE(o.status == 0);
  CHECK(contains(o.out, "done: 8 epochs"));
  REQUIRE(s.exists("best.safetensors"));
  // Exactly the checkpoint of a run of 3 epochs (the best), byte for byte.
  Output three = s.nnjit({"train", "m.nn", "--epochs", "3", "--save", "three.safetensors"});
  REQUIRE(three.status == 0);
  CHECK(s.read("best.safetensors") == s.read("three.safetensors"));
  CHECK(s.read("last.safetensors") != s.read("best.safetensors"));
  CHECK(parseSafeTensors(s.read("best.safetensors")).values("epoch") == std::vector<double>{3});
  // Its test loss is the best one the log reported.
  s.write("test.csv", "x,t\n1,0.5\n");
  Output e = s.nnjit({"eval", "m.nn", "--load", "best.safetensors", "--data", "test.csv", "--log", "json"});
  REQUIRE(e.status == 0);
  CHECK(near(jsonLines(e.out).back()["loss"].get<double>(), 0.000144, 1e-6));
}

TEST_CASE("early stopping: patience and --save-best need test rows", "[e2e][early-stop]") {
  Scratch s;
  requireTrainError(s, "epochs = 4, patience = 3", 30, "early stopping (patience) needs test rows");
  // Only training watches the test loss.
  CHECK(s.nnjit({"check", "m.nn"}).status == 0);

  CHECK(failedWith(trainIn(s, "epochs = 4", {"--save-best", "b.safetensors"}), 1, "--save-best needs test rows"));
  CHECK(!s.exists("b.safetensors"));
  CHECK(failedWith(trainIn(s, "epochs = 4", {"--patience", "2"}), 1, "--patience needs test rows"));
}

TEST_CASE("early stopping: patience is a whole number of at least 1", "[e2e][early-stop]") {
  Scratch s;
  requireTrainError(s, "epochs = 4, test = 1, patience = 0", 40, "patience must be at least 1");
  requireTrainError(s, "epochs = 4, test = 1, patience = 1.5", 40, "patience must be a whole number");
  CHECK(failedWith(trainIn(s, "epochs = 4, test = 1, patiense = 2", {}), 1, "did you mean 'patience'?"));
  CHECK(failedWith(trainIn(s, "epochs = 4, test = 1", {"--patience", "0"}), 2, "--patience"));
}
