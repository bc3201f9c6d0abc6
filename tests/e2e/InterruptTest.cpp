// InterruptTest: Ctrl-C and SIGTERM stop `nnjit train` at the end of a batch,
// save the finished epochs, and a run loaded from that file resumes exactly.
#include "Helpers.h"

#include <fmt/format.h>

#include <csignal>
#include <regex>

using namespace nnjit::e2e;
using nlohmann::json;

namespace {

/// 3,000 rows of four features and a class that they only partly predict:
/// 1,350 batches per epoch, so a signal almost always lands inside one.
std::string rows() {
  std::string csv;
  for (int i = 0; i < 3000; ++i)
    csv += fmt::format("{},{},{},{},{}\n", std::sin(i), std::cos(0.7 * i), (i % 7) / 7.0, (i * i % 5) / 5.0, i * i % 3);
  return csv;
}

const char* kLong = "data \"rows.csv\"\n"
                    "input x[batch, 4]\n"
                    "input label[batch] : class(3)\n"
                    "param W[4, 3] = truncated_normal(0, 0.1)\n"
                    "param b[3] = zeros\n"
                    "loss = cross_entropy(x @ W + b, label)\n"
                    "optimizer adam(lr = 0.01)\n"
                    "train(epochs = 100000, batch = 2, test = 300, shuffle = 3)\n";

/// The text log's line for epoch `n` ("epoch   N/LAST ...", N padded to LAST's width).
std::string epochLine(const std::string& out, int64_t n) {
  std::regex start(fmt::format(R"(^epoch +{}/.*)", n));
  for (const std::string& line : textLines(out))
    if (std::regex_match(line, start)) return line;
  return "";
}

/// `nnjit train` of kLong with `flags`, sent `signal` once its log has begun (`logStart`).
Output stopLongRun(const Scratch& s, std::vector<std::string> flags, const std::string& logStart, int signal) {
  s.write("rows.csv", rows());
  s.write("m.nn", kLong);
  flags.insert(flags.begin(), {"train", "m.nn"});
  return s.interrupt(flags, logStart, {signal});
}

} // namespace

TEST_CASE("interrupt: SIGINT saves the finished epochs and --load resumes exactly", "[e2e][interrupt]") {
  Scratch s;
  Output o = stopLongRun(s, {"--save", "p.safetensors"}, "epoch ", SIGINT);
  INFO(o.out << o.err);
  CHECK(o.status == 130);
  std::smatch m;
  std::string last = textLines(o.out).back();
  REQUIRE(std::regex_match(last, m, std::regex(R"(interrupted (in epoch (\d+), batch (\d+) of 1350|after epoch (\d+)): )"
                                               R"(saved the state after epoch (\d+) to p\.safetensors)")));
  int64_t kept = std::stoll(m[5]);
  CHECK(kept >= 1);
  if (m[2].matched) CHECK(std::stoll(m[2]) == kept + 1);
  else CHECK(std::stoll(m[4]) == kept);
  CHECK(epochLine(o.out, kept) != "");
  CHECK(epochLine(o.out, kept + 1) == "");
  REQUIRE(s.exists("p.safetensors"));

  // The next epoch from the checkpoint is the one an uninterrupted run trains.
  Output resumed = s.nnjit({"train", "m.nn", "--load", "p.safetensors", "--epochs", "1"});
  Output straight = s.nnjit({"train", "m.nn", "--epochs", std::to_string(kept + 1)});
  REQUIRE(resumed.status == 0);
  REQUIRE(straight.status == 0);
  CHECK(epochLine(resumed.out, kept + 1) != "");
  CHECK(epochLine(resumed.out, kept + 1) == epochLine(straight.out, kept + 1));
}

TEST_CASE("interrupt: SIGTERM stops like Ctrl-C, the JSON log ends with an interrupted line", "[e2e][interrupt]") {
  Scratch s;
  Output o = stopLongRun(s, {"--log", "json"}, "{\"epoch\"", SIGTERM);
  INFO(o.out << o.err);
  CHECK(o.status == 143);
  std::vector<json> lines = jsonLines(o.out);
  REQUIRE(lines.size() >= 2);
  const json& end = lines.back();
  CHECK(end["interrupted"] == true);
  CHECK(end["epochs"] == static_cast<int64_t>(lines.size() - 1));
  CHECK(end["in_epoch"] == static_cast<int64_t>(lines.size()));
  CHECK(end["batches"] == 1350);
  CHECK(end["saved"].is_null());
  CHECK(end["loss"] == lines[lines.size() - 2]["loss"]);
  CHECK(!end.contains("done"));
}

TEST_CASE("interrupt: a second SIGINT exits at once without touching the checkpoint", "[e2e][interrupt]") {
  Scratch s;
  // One step of about a second per epoch: both signals land inside the same step.
  s.write("m.nn", "param W[1200, 1200] = normal(0, 0.03)\n"
                  "loss = mean(square(tanh(W @ W @ W) - 0.5))\n"
                  "optimizer sgd(lr = 0.1)\n"
                  "train(epochs = 1000)\n");
  s.write("p.safetensors", "old");
  Output o = s.interrupt({"train", "m.nn", "--save", "p.safetensors"}, "epoch ", {SIGINT, SIGINT});
  INFO(o.out << o.err);
  CHECK(o.status == 130);
  // On a machine so loaded that the second signal came after the save, there is nothing to check.
  if (o.out.find("interrupted") == std::string::npos) CHECK(s.read("p.safetensors") == "old");
}
