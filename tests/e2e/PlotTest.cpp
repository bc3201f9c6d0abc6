// PlotTest: `nnjit train --plot F.svg` writes the run's curves as a standalone SVG that a real renderer draws.
#include "Helpers.h"
#include "PngPixels.h"

#include <csignal>
#include <cstdlib>

using namespace nnjit::e2e;

namespace {

/// Pixels within a small distance of `rgb` (the line colours are opaque; antialiased edges are not counted).
size_t pixelsNear(const nnjit::test::Image& img, uint32_t rgb) {
  size_t n = 0;
  for (const auto& p : img.pixels) {
    int dr = p[0] - int(rgb >> 16), dg = p[1] - int(rgb >> 8 & 255), db = p[2] - int(rgb & 255);
    if (p[3] == 255 && dr * dr + dg * dg + db * db < 300) ++n;
  }
  return n;
}

/// Renders `svg` (in the scratch folder) with rsvg-convert; fails the test loudly when it is missing or refuses.
nnjit::test::Image render(const Scratch& s, const std::string& svg) {
  Output r = s.shell("command -v rsvg-convert >/dev/null || { echo 'rsvg-convert is missing: apt-get install "
                     "librsvg2-bin (./build.sh test installs it)' >&2; exit 99; }; rsvg-convert '" +
                     svg + "' -o plot.png");
  INFO(r.err);
  REQUIRE(r.status == 0);
  std::optional<nnjit::test::Image> img = nnjit::test::decodePng(s.read("plot.png"));
  REQUIRE(img);
  return *img;
}

size_t count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

/// The SVG of `nnjit train MODEL --plot p.svg` for quadratic.nn trained `epochs` epochs, saved as `model`.
std::string plotOfQuadratic(const Scratch& s, const std::string& model, int epochs) {
  s.write(model, quadratic("sgd(lr = 0.2)", epochs));
  Output o = s.nnjit({"train", model, "--plot", "p.svg"});
  INFO(o.out << o.err);
  REQUIRE(o.status == 0);
  return s.read("p.svg");
}

constexpr uint32_t kTrainColour = 0x1f77b4, kTestColour = 0xff7f0e;

} // namespace

TEST_CASE("plot: loss and metric, train and test, as lines a renderer draws", "[e2e][plot]") {
  Scratch s;
  s.copy("examples/iris.nn", "iris.nn");
  s.copy("examples/iris.csv", "iris.csv");
  Output o = s.nnjit({"train", "iris.nn", "--epochs", "20", "--log-every", "7", "--plot", "curves.svg"});
  INFO(o.out << o.err);
  REQUIRE(o.status == 0);
  std::string svg = s.read("curves.svg");
  CHECK(startsWith(svg, "<?xml version=\"1.0\""));
  CHECK(contains(svg, "xmlns=\"http://www.w3.org/2000/svg\""));
  CHECK(contains(svg, "width=\"640\" height=\"516\" viewBox=\"0 0 640 516\""));
  CHECK(contains(svg, ">iris.nn</text>"));
  CHECK(count(svg, "<path class=\"series\"") == 4);  // loss and acc, each train and test
  CHECK(count(svg, ">train</text>") == 2);
  CHECK(count(svg, ">test</text>") == 2);
  CHECK(contains(svg, ">loss</text>"));
  CHECK(contains(svg, ">acc</text>"));
  // The log printed 4 epochs; the plot has all 20 on each line.
  size_t first = svg.find("d=\"M");
  std::string d = svg.substr(first, svg.find('"', first + 3) - first);
  CHECK(count(d, " L") + 1 == 20);
  CHECK(contains(svg, ">20</text>"));

  nnjit::test::Image img = render(s, "curves.svg");
  CHECK(img.width == 640);
  CHECK(pixelsNear(img, kTrainColour) > 200);
  CHECK(pixelsNear(img, kTestColour) > 200);

  Output again = s.nnjit({"train", "iris.nn", "--epochs", "20", "--plot", "again.svg"});
  CHECK(s.read("again.svg") == svg);
}

TEST_CASE("plot: the renderer check can fail: an empty chart has no line colour", "[e2e][plot]") {
  Scratch s;
  s.write("empty.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"64\" height=\"64\">"
                       "<rect width=\"100%\" height=\"100%\" fill=\"white\"/></svg>");
  nnjit::test::Image img = render(s, "empty.svg");
  CHECK(pixelsNear(img, kTrainColour) == 0);
}

TEST_CASE("plot: one epoch is a marker, a model without test rows has train lines only", "[e2e][plot]") {
  Scratch s;
  std::string svg = plotOfQuadratic(s, "q.nn", 1);
  CHECK(count(svg, "<path class=\"series\"") == 2);  // loss and w
  CHECK(count(svg, ">test</text>") == 0);
  CHECK(count(svg, "<circle") == 2);
  CHECK(pixelsNear(render(s, "p.svg"), kTrainColour) > 20);
}

TEST_CASE("plot: a resumed run plots its own epochs, numbered on from the checkpoint", "[e2e][plot]") {
  Scratch s;
  s.write("q.nn", quadratic("sgd(lr = 0.2)", 3));
  REQUIRE(s.nnjit({"train", "q.nn", "--save", "p.safetensors"}).status == 0);
  Output o = s.nnjit({"train", "q.nn", "--load", "p.safetensors", "--epochs", "2", "--plot", "p.svg"});
  INFO(o.out << o.err);
  REQUIRE(o.status == 0);
  std::string svg = s.read("p.svg");
  CHECK(contains(svg, ">4</text>"));
  CHECK(contains(svg, ">5</text>"));
  CHECK(!contains(svg, ">3</text>"));
}

TEST_CASE("plot: Ctrl-C writes the epochs trained", "[e2e][plot][interrupt]") {
  Scratch s;
  s.write("m.nn", "param W[200, 200] = normal(0, 0.03)\n"
                  "loss = mean(square(tanh(W @ W) - 0.5))\n"
                  "optimizer sgd(lr = 0.1)\n"
                  "train(epochs = 100000000)\n");
  Output o = s.interrupt({"train", "m.nn", "--log-every", "1", "--plot", "p.svg"}, "epoch ", {SIGINT});
  INFO(o.out << o.err);
  CHECK(o.status == 130);
  REQUIRE(s.exists("p.svg"));
  CHECK(count(s.read("p.svg"), "<path class=\"series\"") == 1);
}

TEST_CASE("plot: a run that trains no epoch keeps an earlier plot", "[e2e][plot]") {
  Scratch s;
  s.write("q.nn", quadratic("sgd(lr = 0.2)", 3));
  s.write("p.svg", "old");
  Output o = s.nnjit({"train", "q.nn", "--epochs", "0", "--plot", "p.svg"});
  CHECK(o.status == 0);
  CHECK(s.read("p.svg") == "old");
}

TEST_CASE("plot: bad paths are refused before training", "[e2e][plot]") {
  Scratch s;
  s.write("q.nn", quadratic("sgd(lr = 0.2)", 3));
  Output empty = s.nnjit({"train", "q.nn", "--plot", ""});
  CHECK(empty.status == 2);
  CHECK(contains(empty.err, "the path is empty"));
  Output missing = s.nnjit({"train", "q.nn", "--plot", "no/p.svg"});
  CHECK(missing.status == 1);
  CHECK(contains(missing.err, "no/p.svg: error: cannot write file"));
  CHECK(missing.out.empty());
  Output folder = s.nnjit({"train", "q.nn", "--plot", "."});
  CHECK(folder.status == 1);
  CHECK(folder.out.empty());
}

TEST_CASE("plot: a file name with < and & stays valid XML", "[e2e][plot]") {
  Scratch s;
  std::string svg = plotOfQuadratic(s, "a&b<c.nn", 3);
  CHECK(contains(svg, ">a&amp;b&lt;c.nn</text>"));
  CHECK(pixelsNear(render(s, "p.svg"), kTrainColour) > 50);
}

TEST_CASE("plot: a loss spanning more than two decades gets a log scale", "[e2e][plot]") {
  Scratch s;
  CHECK(contains(plotOfQuadratic(s, "wide.nn", 40), ">loss (log scale)</text>"));  // 36 down to 3.6e-15
  CHECK(contains(plotOfQuadratic(s, "narrow.nn", 3), ">loss</text>"));          // 36, 12.96, 4.67
}

TEST_CASE("plot: a run that diverges still plots the epochs it finished", "[e2e][plot]") {
  Scratch s;
  s.write("m.nn", quadratic("sgd(lr = 1e20)", 5));  // epoch 1 finishes, epoch 2's loss overflows
  Output o = s.nnjit({"train", "m.nn", "--plot", "p.svg"});
  CHECK(o.status == 3);
  REQUIRE(s.exists("p.svg"));
  CHECK(count(s.read("p.svg"), "<circle") >= 1);
}
