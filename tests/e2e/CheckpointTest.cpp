// CheckpointTest: --save / --load safetensors files, resuming, refusals, atomic saves,
// and the `eval` and `predict` commands that read checkpoints.
#include "Helpers.h"

using namespace nnjit::e2e;
using nlohmann::json;

namespace {

const char* kAdamIris = "data \"iris.csv\"\n"
                        "input x[batch, 4]\n"
                        "input label[batch] : class(3)\n"
                        "param W[4, 3] = truncated_normal(0, 0.1)\n"
                        "param b[3] = zeros\n"
                        "param s = 1\n"
                        "y = softmax(s * (x @ W + b))\n"
                        "loss = mean(square(onehot(label, 3) - y))\n"
                        "metric acc = accuracy(y, label)\n"
                        "output y\n"
                        "optimizer adam(lr = 0.01)\n"
                        "train(epochs = 2, batch = 32, test = 30)\n";

// W starts at zero and lr is 0: every row scores 1/3 for each class.
const char* kZeroIris = "data \"iris.csv\"\n"
                        "input x[batch, 4]\n"
                        "input label[batch] : class(3)\n"
                        "param W[4, 3] = zeros\n"
                        "y = softmax(x @ W)\n"
                        "loss = mean(square(onehot(label, 3) - y))\n"
                        "metric acc = accuracy(y, label)\n"
                        "output y\n"
                        "optimizer sgd(lr = 0)\n"
                        "train(epochs = 1, batch = 32, test = 30, shuffle = 5)\n";

std::string twoParams(const std::string& extra, const std::string& betaDims = "2") {
  return "param alpha = 1\n"
         "param beta[" + betaDims + "] = zeros\n" + extra +
         "loss = square(alpha - 3) + sum(square(beta - 1))\n"
         "optimizer sgd(lr = 0.1)\n"
         "train(epochs = 2)\n";
}

/// A safetensors file built by hand: F32 scalars.
std::string handMadeCheckpoint(const std::vector<std::pair<std::string, double>>& scalars, bool f64) {
  json header = json::object();
  std::string data;
  for (auto& [name, v] : scalars) {
    size_t begin = data.size();
    if (f64) {
      data.append(reinterpret_cast<const char*>(&v), 8);
    } else {
      float f = float(v);
      data.append(reinterpret_cast<const char*>(&f), 4);
    }
    header[name] = {{"dtype", f64 ? "F64" : "F32"}, {"shape", json::array()}, {"data_offsets", {begin, data.size()}}};
  }
  std::string h = header.dump();
  while (h.size() % 8) h += ' ';
  std::string out;
  uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out += char((n >> (8 * i)) & 0xff);
  return out + h + data;
}

} // namespace

TEST_CASE("checkpoint: --save writes params, epoch and adam's state as F32 safetensors", "[e2e][checkpoint]") {
  Scratch s;
  s.copy("examples/iris.csv", "iris.csv");
  s.write("m.nn", kAdamIris);
  Output o = s.nnjit({"train", "m.nn", "--save", "p.safetensors", "--log", "json"});
  INFO(o.err);
  REQUIRE(o.status == 0);
  REQUIRE(s.exists("p.safetensors"));
  SafeTensors st = parseSafeTensors(s.read("p.safetensors"));
  std::set<std::string> names;
  for (auto& [name, t] : st.header.items())
    if (name != "__metadata__") names.insert(name);
  std::set<std::string> want = {"W",        "b",        "s",        "epoch",    "adam.m.W", "adam.m.b",
                                "adam.m.s", "adam.v.W", "adam.v.b", "adam.v.s", "adam.t"};
  CHECK(names == want);
  REQUIRE(st.header.contains("W"));
  CHECK(st.header["W"]["shape"] == json::array({4, 3}));
  CHECK(st.header["W"]["dtype"] == "F32");
  CHECK(st.header["b"]["shape"] == json::array({3}));
  REQUIRE(st.header.contains("s"));
  CHECK(st.header["s"]["shape"] == json::array());
  REQUIRE(st.header.contains("epoch"));
  CHECK(st.header["epoch"]["shape"] == json::array());
  CHECK(st.header["epoch"]["dtype"] == "F32");
  CHECK(st.values("epoch") == std::vector<double>{2});
  REQUIRE(st.header.contains("adam.m.W"));
  CHECK(st.header["adam.m.W"]["shape"] == json::array({4, 3}));
  REQUIRE(st.header.contains("adam.v.W"));
  CHECK(st.header["adam.v.W"]["shape"] == json::array({4, 3}));
  REQUIRE(st.header.contains("adam.t"));
  CHECK(st.header["adam.t"]["shape"] == json::array());
  // 120 training rows in batches of 32: 4 steps per epoch, 8 in all.
  CHECK(st.values("adam.t") == std::vector<double>{8});
  for (auto& v : st.values("adam.v.W")) CHECK(v >= 0);
}

TEST_CASE("checkpoint: the saved param is the trained value", "[e2e][checkpoint]") {
  Scratch s;
  s.copy("examples/quadratic.nn", "quadratic.nn");
  Output o = s.nnjit({"train", "quadratic.nn", "--epochs", "1", "--save", "q.safetensors"});
  INFO(o.err);
  REQUIRE(o.status == 0);
  SafeTensors st = parseSafeTensors(s.read("q.safetensors"));
  REQUIRE(st.header.contains("w"));
  CHECK(st.header["w"]["shape"] == json::array());
  CHECK(st.header["w"]["dtype"] == "F32");
  CHECK(st.values("w") == std::vector<double>{double(2.6f)});
  CHECK(st.values("epoch") == std::vector<double>{1});
}

TEST_CASE("checkpoint: --dtype f64 saves F64 tensors", "[e2e][checkpoint]") {
  Scratch s;
  s.copy("examples/iris.csv", "iris.csv");
  s.write("m.nn", kAdamIris);
  Output o = s.nnjit({"train", "m.nn", "--dtype", "f64", "--save", "p.safetensors"});
  INFO(o.err);
  REQUIRE(o.status == 0);
  SafeTensors st = parseSafeTensors(s.read("p.safetensors"));
  for (auto& [name, t] : st.header.items()) {
    if (name == "__metadata__") continue;
    INFO(name);
    CHECK(t["dtype"] == "F64");
  }
  CHECK(st.values("epoch") == std::vector<double>{2});
}

TEST_CASE("checkpoint: --load resumes epoch numbering and --epochs counts this run", "[e2e][checkpoint]") {
  Scratch s;
  s.copy("examples/quadratic.nn", "quadratic.nn");
  Output a = s.nnjit({"train", "quadratic.nn", "--epochs", "10", "--save", "q.safetensors"});
  INFO(a.err);
  REQUIRE(a.status == 0);
  Output b = s.nnjit({"train", "quadratic.nn", "--load", "q.safetensors", "--epochs", "5", "--log", "json"});
  INFO(b.err);
  REQUIRE(b.status == 0);
  auto lines = jsonLines(b.out);
  REQUIRE(lines.size() == 6);
  for (int i = 0; i < 5; ++i) CHECK(lines[i]["epoch"] == 11 + i);
  CHECK(lines[5]["done"] == true);
  CHECK(lines[5]["epochs"] == 5);
  // Each epoch multiplies w + 1 by 0.6: after epoch 11, w = -1 + 6 * 0.6^11.
  CHECK(near(lines[0]["metrics"]["w"].get<double>(), -1 + 6 * std::pow(0.6, 11)));
  CHECK(near(lines[0]["loss"].get<double>(), std::pow(6 * std::pow(0.6, 10), 2)));
}

TEST_CASE("checkpoint: save and load trains like one uninterrupted run", "[e2e][checkpoint]") {
  Scratch s;
  s.copy("examples/iris.csv", "iris.csv");
  s.copy("examples/iris.nn", "iris.nn");
  struct Case {
    std::string model, file;
    int first, second;
  };
  s.write("sgd.nn", quadratic("sgd(lr = 0.1)"));
  s.write("momentum.nn", quadratic("sgd(lr = 0.05 * 0.9 ^ epoch, momentum = 0.9)"));
  s.write("adam.nn", quadratic("adam(lr = 0.5 * 0.9 ^ epoch)"));
  s.write("adamiris.nn", kAdamIris);
  for (Case c : {Case{"sgd.nn", "a", 10, 10}, Case{"momentum.nn", "b", 4, 6}, Case{"adam.nn", "c", 5, 5},
                 Case{"iris.nn", "d", 3, 3}, Case{"adamiris.nn", "e", 2, 3}}) {
    INFO(c.model);
    std::string total = std::to_string(c.first + c.second);
    Output whole = s.nnjit({"train", c.model, "--epochs", total, "--log", "json"});
    Output one = s.nnjit({"train", c.model, "--epochs", std::to_string(c.first), "--save", c.file + ".safetensors"});
    Output two = s.nnjit({"train", c.model, "--epochs", std::to_string(c.second), "--load", c.file + ".safetensors",
                          "--log", "json"});
    INFO(whole.err << one.err << two.err);
    REQUIRE(whole.status == 0);
    REQUIRE(one.status == 0);
    REQUIRE(two.status == 0);
    auto w = epochLines(whole.out), t = epochLines(two.out);
    REQUIRE(w.size() == size_t(c.first + c.second));
    REQUIRE(t.size() == size_t(c.second));
    for (int i = 0; i < c.second; ++i) {
      INFO("epoch " << c.first + i + 1);
      json a = w[c.first + i], b = t[i];
      a.erase("ms");
      b.erase("ms");
      CHECK(a == b);
    }
  }
}

TEST_CASE("checkpoint: --load converts F64 to F32 and F32 to F64", "[e2e][checkpoint]") {
  Scratch s;
  s.copy("examples/quadratic.nn", "quadratic.nn");
  SECTION("hand-made F32 file") {
    s.write("h.safetensors", handMadeCheckpoint({{"w", 0.5}, {"epoch", 3}}, false));
  }
  SECTION("hand-made F64 file") {
    s.write("h.safetensors", handMadeCheckpoint({{"w", 0.5}, {"epoch", 3}}, true));
  }
  for (std::string dtype : {"f32", "f64"}) {
    INFO(dtype);
    Output o = s.nnjit({"train", "quadratic.nn", "--load", "h.safetensors", "--epochs", "1", "--dtype", dtype,
                        "--log", "json"});
    INFO(o.err);
    REQUIRE(o.status == 0);
    auto lines = epochLines(o.out);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0]["epoch"] == 4);
    CHECK(near(lines[0]["loss"].get<double>(), 2.25));        // (0.5 + 1)^2
    CHECK(near(lines[0]["metrics"]["w"].get<double>(), -0.1));  // 0.5 - 0.2 * 3
  }
}

TEST_CASE("checkpoint: --load refuses a file missing a param, naming it", "[e2e][checkpoint]") {
  Scratch s;
  s.write("a.nn", twoParams(""));
  s.write("b.nn", twoParams("param gamma = 0\n"));
  REQUIRE(s.nnjit({"train", "a.nn", "--save", "a.safetensors"}).status == 0);
  Output o = s.nnjit({"train", "b.nn", "--load", "a.safetensors"});
  CHECK(o.status == 1);
  CHECK(startsWith(o.err, "a.safetensors: error: "));
  CHECK(contains(o.err, "gamma"));
}

TEST_CASE("checkpoint: --load refuses a file with an extra tensor, naming it", "[e2e][checkpoint]") {
  Scratch s;
  s.write("a.nn", twoParams(""));
  s.write("b.nn", twoParams("param gamma = 0\n"));
  REQUIRE(s.nnjit({"train", "b.nn", "--save", "b.safetensors"}).status == 0);
  Output o = s.nnjit({"train", "a.nn", "--load", "b.safetensors"});
  CHECK(o.status == 1);
  CHECK(startsWith(o.err, "b.safetensors: error: "));
  CHECK(contains(o.err, "gamma"));
}

TEST_CASE("checkpoint: --load refuses a wrongly shaped param, naming it", "[e2e][checkpoint]") {
  Scratch s;
  s.write("a.nn", twoParams(""));
  s.write("c.nn", twoParams("", "3"));
  REQUIRE(s.nnjit({"train", "c.nn", "--save", "c.safetensors"}).status == 0);
  Output o = s.nnjit({"train", "a.nn", "--load", "c.safetensors"});
  CHECK(o.status == 1);
  CHECK(startsWith(o.err, "c.safetensors: error: "));
  CHECK(contains(o.err, "beta"));
}

TEST_CASE("checkpoint: --load ignores another optimizer's state", "[e2e][checkpoint]") {
  Scratch s;
  s.write("adam.nn", quadratic("adam(lr = 0.1)", 3));
  s.write("sgd.nn", quadratic("sgd(lr = 0.2)", 3));
  REQUIRE(s.nnjit({"train", "adam.nn", "--save", "p.safetensors"}).status == 0);
  SafeTensors st = parseSafeTensors(s.read("p.safetensors"));
  double w = st.values("w").at(0);
  Output o = s.nnjit({"train", "sgd.nn", "--load", "p.safetensors", "--epochs", "1", "--log", "json"});
  INFO(o.err);
  REQUIRE(o.status == 0);
  auto lines = epochLines(o.out);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["epoch"] == 4);
  CHECK(near(lines[0]["metrics"]["w"].get<double>(), w - 0.2 * 2 * (w + 1)));
}

TEST_CASE("checkpoint: --load refuses a state no optimizer keeps", "[e2e][checkpoint]") {
  Scratch s;
  s.write("adam.nn", quadratic("adam(lr = 0.1)", 3));
  REQUIRE(s.nnjit({"train", "adam.nn", "--save", "p.safetensors"}).status == 0);
  // adam.m.w renamed adam.q.w: the same length, so the header's offsets hold.
  std::string renamed = s.read("p.safetensors");
  size_t at = renamed.find("\"adam.m.w\"");
  REQUIRE(at != std::string::npos);
  renamed.replace(at + 1, 8, "adam.q.w");
  s.write("renamed.safetensors", renamed);
  Output o = s.nnjit({"train", "adam.nn", "--load", "renamed.safetensors"});
  INFO(o.err);
  CHECK(o.status == 1);
  CHECK(contains(o.err, "renamed.safetensors: error: the checkpoint holds 'adam.q.w'"));
}

TEST_CASE("checkpoint: a truncated or garbage checkpoint is a file error", "[e2e][checkpoint]") {
  Scratch s;
  s.copy("examples/quadratic.nn", "quadratic.nn");
  REQUIRE(s.nnjit({"train", "quadratic.nn", "--epochs", "1", "--save", "good.safetensors"}).status == 0);
  std::string good = s.read("good.safetensors");
  s.write("half.safetensors", good.substr(0, good.size() / 2));
  s.write("short.safetensors", good.substr(0, good.size() - 2));
  s.write("garbage.safetensors", "this is not a safetensors file at all, just some text\n");
  s.write("tiny.safetensors", "abc");
  for (std::string f : {"half.safetensors", "short.safetensors", "garbage.safetensors", "tiny.safetensors",
                        "absent.safetensors"}) {
    INFO(f);
    Output o = s.nnjit({"train", "quadratic.nn", "--load", f});
    CHECK(o.status == 1);
    CHECK(startsWith(o.err, f + ": error: "));
  }
}

TEST_CASE("checkpoint: a run that fails leaves the --save target untouched", "[e2e][checkpoint]") {
  Scratch s;
  s.write("diverge.nn", "param w = 5\nloss = exp(w * w * w)\noptimizer sgd(lr = 0.1)\ntrain(epochs = 3)\n");
  s.write("c.nn", "input x[batch, 2]\ninput label[batch] : class(3)\nparam W[2, 3] = zeros\n"
                  "loss = cross_entropy(x @ W, label)\noptimizer sgd(lr = 0.1)\ntrain(epochs = 1)\n");
  s.write("bad.csv", "a,b,c\n1,2,0\n1,2,7\n");

  SECTION("no file existed: none is created") {
    auto before = listDir(s.dir());
    Output d = s.nnjit({"train", "diverge.nn", "--save", "p.safetensors"});
    CHECK(d.status == 3);
    Output b = s.nnjit({"train", "c.nn", "--data", "bad.csv", "--save", "p.safetensors"});
    CHECK(b.status == 1);
    CHECK(!s.exists("p.safetensors"));
    CHECK(listDir(s.dir()) == before);
  }
  SECTION("an existing file stays byte-identical") {
    s.copy("examples/quadratic.nn", "quadratic.nn");
    REQUIRE(s.nnjit({"train", "quadratic.nn", "--epochs", "2", "--save", "p.safetensors"}).status == 0);
    std::string original = s.read("p.safetensors");
    auto before = listDir(s.dir());
    Output d = s.nnjit({"train", "diverge.nn", "--save", "p.safetensors"});
    CHECK(d.status == 3);
    CHECK(s.read("p.safetensors") == original);
    Output b = s.nnjit({"train", "c.nn", "--data", "bad.csv", "--save", "p.safetensors"});
    CHECK(b.status == 1);
    CHECK(s.read("p.safetensors") == original);
    CHECK(listDir(s.dir()) == before);
  }
}

TEST_CASE("checkpoint: a successful save leaves no temporary files", "[e2e][checkpoint]") {
  Scratch s;
  s.copy("examples/quadratic.nn", "quadratic.nn");
  REQUIRE(s.nnjit({"train", "quadratic.nn", "--epochs", "2", "--save", "p.safetensors"}).status == 0);
  REQUIRE(s.nnjit({"train", "quadratic.nn", "--epochs", "2", "--save", "p.safetensors"}).status == 0);
  CHECK(listDir(s.dir()) == std::set<std::string>{"quadratic.nn", "p.safetensors"});
}

TEST_CASE("checkpoint: eval prints the loss and metrics of the loaded params", "[e2e][checkpoint]") {
  Scratch s;
  s.copy("examples/quadratic.nn", "quadratic.nn");
  REQUIRE(s.nnjit({"train", "quadratic.nn", "--epochs", "1", "--save", "q.safetensors"}).status == 0);
  Output j = s.nnjit({"eval", "quadratic.nn", "--load", "q.safetensors", "--log", "json"});
  INFO(j.err);
  REQUIRE(j.status == 0);
  auto lines = jsonLines(j.out);
  REQUIRE(lines.size() == 1);
  CHECK(near(lines[0]["loss"].get<double>(), 12.96));  // (2.6 + 1)^2
  CHECK(near(lines[0]["metrics"]["w"].get<double>(), 2.6));
  Output t = s.nnjit({"eval", "quadratic.nn", "--load", "q.safetensors"});
  INFO(t.err);
  CHECK(t.status == 0);
  CHECK(contains(t.out, "loss"));
  CHECK((contains(t.out, "12.96") || contains(t.out, "12.959")));  // float32 prints 12.959999
  CHECK(contains(t.out, "2.6"));
}

TEST_CASE("checkpoint: eval uses all rows of the data as one batch, without split or shuffle", "[e2e][checkpoint]") {
  // With W = 0 every score is 1/3: the loss is (4/9 + 1/9 + 1/9) / 3 = 2/9 and the
  // accuracy is the fraction of label-0 rows (ties pick the first): 50 of 150.
  Scratch s;
  s.copy("examples/iris.csv", "iris.csv");
  s.write("m.nn", kZeroIris);
  REQUIRE(s.nnjit({"train", "m.nn", "--save", "p.safetensors"}).status == 0);
  Output o = s.nnjit({"eval", "m.nn", "--load", "p.safetensors", "--log", "json"});
  INFO(o.err);
  REQUIRE(o.status == 0);
  auto lines = jsonLines(o.out);
  REQUIRE(lines.size() == 1);
  CHECK(near(lines[0]["loss"].get<double>(), 2.0 / 9));
  CHECK(near(lines[0]["metrics"]["acc"].get<double>(), 1.0 / 3));
  // --data: only the first 10 rows (all label 0).
  std::string csv = s.read("iris.csv");
  std::string first;
  int n = 0;
  for (auto& l : textLines(csv)) {
    if (n++ > 10) break;
    first += l + "\n";
  }
  s.write("first.csv", first);
  Output d = s.nnjit({"eval", "m.nn", "--load", "p.safetensors", "--data", "first.csv", "--log", "json"});
  INFO(d.err);
  REQUIRE(d.status == 0);
  CHECK(near(jsonLines(d.out).at(0)["metrics"]["acc"].get<double>(), 1.0));
}

TEST_CASE("checkpoint: predict writes y0,y1,y2 and one row per data row", "[e2e][checkpoint]") {
  Scratch s;
  s.copy("examples/iris.csv", "iris.csv");
  s.write("m.nn", kAdamIris);
  REQUIRE(s.nnjit({"train", "m.nn", "--save", "p.safetensors"}).status == 0);
  Output o = s.nnjit({"predict", "m.nn", "--load", "p.safetensors", "--data", "iris.csv"});
  INFO(o.err);
  REQUIRE(o.status == 0);
  auto lines = textLines(o.out);
  REQUIRE(lines.size() == 151);
  CHECK(lines[0] == "y0,y1,y2");
  for (size_t i = 1; i < lines.size(); ++i) {
    std::istringstream row(lines[i]);
    std::string cell;
    double sum = 0;
    int cells = 0;
    while (std::getline(row, cell, ',')) {
      sum += std::stod(cell);
      ++cells;
    }
    INFO("row " << i << ": " << lines[i]);
    CHECK(cells == 3);
    CHECK(std::fabs(sum - 1) < 1e-4);  // softmax rows
  }

  SECTION("a CSV with only the input columns gives the same rows") {
    std::string inputs;
    for (auto& l : textLines(s.read("iris.csv"))) inputs += l.substr(0, l.rfind(',')) + "\n";
    s.write("inputs.csv", inputs);
    Output p = s.nnjit({"predict", "m.nn", "--load", "p.safetensors", "--data", "inputs.csv"});
    INFO(p.err);
    REQUIRE(p.status == 0);
    CHECK(p.out == o.out);
  }
}

TEST_CASE("checkpoint: predict of a scalar-per-row output has the header y", "[e2e][checkpoint]") {
  Scratch s;
  s.copy("examples/iris.csv", "iris.csv");
  s.write("m.nn", "data \"iris.csv\"\n"
                  "input x[batch, 4]\n"
                  "input label[batch] : class(3)\n"
                  "param w = 2\n"
                  "y = sum(x, axis = -1) * w\n"
                  "loss = square(w - 2)\n"
                  "output y\n"
                  "optimizer sgd(lr = 0.1)\n"
                  "train(epochs = 1)\n");
  REQUIRE(s.nnjit({"train", "m.nn", "--save", "p.safetensors"}).status == 0);
  Output o = s.nnjit({"predict", "m.nn", "--load", "p.safetensors", "--data", "iris.csv"});
  INFO(o.err);
  REQUIRE(o.status == 0);
  auto lines = textLines(o.out);
  REQUIRE(lines.size() == 151);
  CHECK(lines[0] == "y");
  CHECK(near(std::stod(lines[1]), 2 * (5.1 + 3.5 + 1.4 + 0.2)));
  CHECK(!contains(lines[1], ","));
}

TEST_CASE("checkpoint: eval refuses a checkpoint of another model", "[e2e][checkpoint]") {
  Scratch s;
  s.write("a.nn", twoParams("output beta\n"));
  s.write("c.nn", twoParams("output beta\n", "3"));
  REQUIRE(s.nnjit({"train", "c.nn", "--save", "c.safetensors"}).status == 0);
  Output e = s.nnjit({"eval", "a.nn", "--load", "c.safetensors"});
  CHECK(e.status == 1);
  CHECK(startsWith(e.err, "c.safetensors: error: "));
  CHECK(contains(e.err, "beta"));
}

TEST_CASE("checkpoint: --load refuses a step count or epoch that is not a whole number from 0 to 10^15",
          "[e2e][checkpoint]") {
  for (double bad : {std::nan(""), 1e30, -1.0, 2.5, double(INFINITY)}) {
    for (const char* counter : {"adam.t", "epoch"}) {
      Scratch s;
      s.write("m.nn", quadratic("adam(lr = 0.1)", 2));
      double t = std::string(counter) == "adam.t" ? bad : 3, epoch = std::string(counter) == "epoch" ? bad : 1;
      s.write("c.safetensors", handMadeCheckpoint({{"w", 0.5}, {"adam.t", t}, {"epoch", epoch}}, true));
      Output o = s.nnjit({"train", "m.nn", "--load", "c.safetensors"});
      INFO(counter << " = " << bad << "\n" << o.err);
      CHECK(o.status == 1);
      CHECK(contains(o.err, std::string("c.safetensors: error: '") + counter + "' is "));
      CHECK(contains(o.err, "not a whole number from 0 to 10^15"));
    }
  }
}
