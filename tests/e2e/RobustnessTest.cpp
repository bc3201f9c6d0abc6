// RobustnessTest: output that cannot be written, paths that are empty, unwritable or links,
// flags out of range, escape sequences in input, an untrusted object cache, and predict without inputs.
#include "Helpers.h"

#include <sys/stat.h>

using namespace nnjit::e2e;

namespace {

const char* const kModel = "param w = 5\nv = w * 2\nloss = square(w + 1)\nmetric w\noutput v\n"
                           "optimizer sgd(lr = 0.2)\ntrain(epochs = 3)\n";
const char* const kLinear =
    "data \"d.csv\"\ninput x[batch, 2]\ninput label[batch] : class(3)\nparam W[2, 3] = 0\n"
    "loss = cross_entropy(x @ W, label)\noptimizer sgd(lr = 0.1)\ntrain(epochs = 1)\n";

} // namespace

TEST_CASE("robustness: a closed stdout pipe stops the printing, not the training or its save", "[e2e][robustness]") {
  Scratch s;
  s.write("m.nn", kModel);
  // Far more output than a pipe holds: nnjit writes after `head` has gone.
  Output o = s.shell("\"$NNJIT\" train m.nn --epochs 20000 --log-every 1 --save ck.safetensors | head -1; echo \"status ${PIPESTATUS[0]}\"");
  INFO(o.err);
  CHECK(contains(o.out, "epoch     1/20000  loss 36"));
  CHECK(contains(o.out, "status 0"));
  CHECK(o.err.empty());
  REQUIRE(s.exists("ck.safetensors"));
  CHECK(parseSafeTensors(s.read("ck.safetensors")).values("epoch") == std::vector<double>{20000});
}

TEST_CASE("robustness: a full disk on stdout is an error in every command", "[e2e][robustness]") {
  Scratch s;
  s.write("m.nn", kModel);
  REQUIRE(s.nnjit({"train", "m.nn", "--save", "ck.safetensors"}).status == 0);
  for (const char* args : {"train m.nn", "eval m.nn --load ck.safetensors", "predict m.nn --load ck.safetensors",
                           "check m.nn", "show m.nn --graph", "show m.nn --ir", "show m.nn --asm",
                           "train m.nn --log json"}) {
    Output o = s.shell(std::string("\"$NNJIT\" ") + args + " > /dev/full");
    INFO(args << "\n" << o.err);
    CHECK(o.status == 1);
    CHECK(o.err == "nnjit: error: cannot write to standard output: No space left on device\n");
  }
  // With --save the training still finishes and saves, then the write error is reported.
  Output o = s.shell("\"$NNJIT\" train m.nn --epochs 7 --save full.safetensors > /dev/full");
  CHECK(o.status == 1);
  REQUIRE(s.exists("full.safetensors"));
  CHECK(parseSafeTensors(s.read("full.safetensors")).values("epoch") == std::vector<double>{7});
}

TEST_CASE("robustness: empty paths are command-line errors, not ignored", "[e2e][robustness]") {
  Scratch s;
  s.write("m.nn", kModel);
  for (const char* flag : {"--save", "--load", "--data"}) {
    Output o = s.nnjit({"train", "m.nn", flag, ""});
    INFO(flag << "\n" << o.err);
    CHECK(o.status == 2);
    CHECK(contains(o.err, std::string("nnjit: error: ") + flag + ": the path is empty"));
    CHECK(o.out.empty());
  }
  CHECK(s.nnjit({"eval", "m.nn", "--load", ""}).status == 2);
}

TEST_CASE("robustness: an unwritable --save is found before the first epoch", "[e2e][robustness]") {
  Scratch s;
  s.write("m.nn", kModel);
  s.write("afile", "x");
  for (const char* path : {"nodir/ck.safetensors", "afile/ck.safetensors", "."}) {
    Output o = s.nnjit({"train", "m.nn", "--save", path});
    INFO(path << "\n" << o.err);
    CHECK(o.status == 1);
    CHECK(startsWith(o.err, std::string(path) + ": error: cannot write file"));
    CHECK(o.out.empty());  // no epoch ran
  }
}

TEST_CASE("robustness: --save onto a symbolic link replaces the file it points to", "[e2e][robustness]") {
  Scratch s;
  s.write("m.nn", kModel);
  s.write("real.safetensors", "old");
  std::filesystem::create_symlink("real.safetensors", s.path("ck.safetensors"));
  Output o = s.nnjit({"train", "m.nn", "--save", "ck.safetensors"});
  INFO(o.err);
  REQUIRE(o.status == 0);
  CHECK(std::filesystem::is_symlink(s.path("ck.safetensors")));
  CHECK(parseSafeTensors(s.read("real.safetensors")).values("epoch") == std::vector<double>{3});
  CHECK(listDir(s.dir()) == std::set<std::string>{"m.nn", "ck.safetensors", "real.safetensors"});
}

TEST_CASE("robustness: numeric flags name the flag and the range they accept", "[e2e][robustness]") {
  Scratch s;
  s.write("m.nn", kModel);
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  std::vector<Case> cases = {
      {{"--batch", "0"}, "--batch: '0' is not a whole number from 1 to 2147483647"},
      {{"--batch", "1e9"}, "--batch: '1e9' is not a whole number from 1 to 2147483647"},
      {{"--seed", "-1"}, "--seed: '-1' is not a whole number from 0 to 18446744073709551615"},
      {{"--seed", "18446744073709551616"}, "--seed: '18446744073709551616' is not a whole number from 0 to"},
      {{"--epochs", "9223372036854775807"}, "--epochs: '9223372036854775807' is not a whole number from 0 to 1000000000000"},
      {{"--threads", "0"}, "--threads: '0' is not a whole number from 1 to 1024"},
      {{"--lr", "fast"}, "--lr: 'fast' is not a finite number"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"train", "m.nn"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    Output o = s.nnjit(args);
    INFO(o.err);
    CHECK(o.status == 2);
    CHECK(contains(o.err, "nnjit: error: " + c.message));
    CHECK(o.err.size() < 1200);  // the message and the usage, not 300 digits
  }
  Output big = s.nnjit({"train", "m.nn", "--seed", "18446744073709551615", "--epochs", "1"});
  CHECK(big.status == 0);
}

TEST_CASE("robustness: control characters from input are escaped in diagnostics", "[e2e][robustness]") {
  Scratch s;
  s.write("m.nn", kLinear);
  s.write("d.csv", "a,b,c\n1,\x1b[31mred,0\n");
  Output o = s.nnjit({"train", "m.nn"});
  INFO(o.err);
  CHECK(o.status == 1);
  CHECK(contains(o.err, "d.csv:2: error: column 2: '\\x1b[31mred' is not a number"));
  CHECK(o.err.find('\x1b') == std::string::npos);
  s.write("bad.nn", "param w = 5\nloss = \x1b]0;title\x07 w\n");
  Output nn = s.nnjit({"check", "bad.nn"});
  CHECK(nn.status == 1);
  CHECK(nn.err.find('\x1b') == std::string::npos);
  CHECK(nn.err.find('\x07') == std::string::npos);
  CHECK(contains(nn.err, "\\x1b]0;title\\x07"));
  // The location counts bytes as an editor does; the caret sits under the same byte, escaped.
  std::vector<std::string> lines = textLines(nn.err);
  auto semicolon = std::find_if(lines.begin(), lines.end(), [](const std::string& l) { return startsWith(l, "bad.nn:2:11: error:"); });
  REQUIRE(lines.end() - semicolon >= 3);
  CHECK(semicolon[2].find('^') == semicolon[1].find(';'));
}

TEST_CASE("robustness: predict runs a model without inputs, with no --data", "[e2e][robustness]") {
  Scratch s;
  s.write("m.nn", kModel);
  REQUIRE(s.nnjit({"train", "m.nn", "--save", "ck.safetensors"}).status == 0);
  Output o = s.nnjit({"predict", "m.nn", "--load", "ck.safetensors"});
  INFO(o.err);
  CHECK(o.status == 0);
  CHECK(o.out == "v\n0.592\n");
  s.write("m2.nn", std::string(kLinear) + "output y\ny = x @ W\n");
  Output missing = s.nnjit({"predict", "m2.nn", "--load", "ck.safetensors"});
  CHECK(missing.status != 0);
}

TEST_CASE("robustness: an object cache others may write is not used, with one warning line", "[e2e][robustness]") {
  Scratch s;
  s.write("m.nn", kModel);
  ::mkdir(s.path("cache").c_str(), 0700);
  ::chmod(s.path("cache").c_str(), 0777);
  Output o = s.shell("NNJIT_CACHE_DIR=\"$PWD/cache\" \"$NNJIT\" train m.nn");
  INFO(o.err);
  CHECK(o.status == 0);
  auto lines = textLines(o.err);
  REQUIRE(lines.size() == 1);
  CHECK(startsWith(lines[0], "nnjit: warning: object cache folder "));
  CHECK(contains(lines[0], "writable by group or others (mode 0777)"));
  CHECK(std::filesystem::is_empty(s.path("cache")));
  // HOME that does not exist: no cache, and nothing created.
  Output home = s.shell("env -u NNJIT_CACHE_DIR -u XDG_CACHE_HOME HOME=\"$PWD/nonexistent/x\" \"$NNJIT\" train m.nn");
  CHECK(home.status == 0);
  CHECK_FALSE(s.exists("nonexistent"));
}

TEST_CASE("robustness: a session too large for memory names the model and the size", "[e2e][robustness]") {
  Scratch s;
  std::string model;
  for (int i = 0; i < 40; ++i) model += "param W" + std::to_string(i) + "[46000, 46000] = 0\n";
  s.write("big.nn", model + "loss = sum(W0)\noptimizer sgd(lr = 0.1)\ntrain(epochs = 1)\n");
  Output o = s.nnjit({"train", "big.nn"});
  INFO(o.err);
  CHECK(o.status == 1);
  CHECK(contains(o.err, "big.nn: error: out of memory: the session's buffers for 1 row need "));
  CHECK(contains(o.err, "GiB"));
}
