// CsvDatasetTest: the contract's data-binding rules — layout, headers, line ends, and every data error.
#include "CsvDataset.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace nnjit;

namespace {

/// A fresh directory under /tmp, removed with everything in it at the end of the test.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char name[] = "/tmp/nnjit-csv-XXXXXX";
    REQUIRE(::mkdtemp(name) != nullptr);
    path = name;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string write(const std::string& file, const std::string& text) const {
    std::string p = (path / file).string();
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
};

std::vector<InputColumns> xy() { return {{"x", 1, 0}, {"y", 1, 0}}; }

Dataset parseOk(std::string_view text, const std::vector<InputColumns>& inputs, DType dtype = DType::F32) {
  Result<Dataset> r = parseCsv(text, "d.csv", inputs, dtype);
  std::string errors;
  for (const Diagnostic& d : r.errors()) errors += formatDiagnostic(d);
  INFO(errors);
  REQUIRE(r);
  return *r;
}

/// The errors of a parse that must fail, formatted as the CLI prints them.
std::vector<std::string> parseErrors(std::string_view text, const std::vector<InputColumns>& inputs,
                                     DType dtype = DType::F32) {
  Result<Dataset> r = parseCsv(text, "d.csv", inputs, dtype);
  REQUIRE_FALSE(r);
  std::vector<std::string> out;
  for (const Diagnostic& d : r.errors()) out.push_back(formatDiagnostic(d));
  return out;
}

std::string oneError(std::string_view text, const std::vector<InputColumns>& inputs, DType dtype = DType::F32) {
  std::vector<std::string> errors = parseErrors(text, inputs, dtype);
  REQUIRE(errors.size() == 1);
  return errors[0];
}

} // namespace

TEST_CASE("csv: a first line that is not all numbers is a header", "[csv]") {
  Dataset d = parseOk("x,y\n1,2\n3,4\n", xy());
  CHECK(d.rows == 2);
  CHECK(d.columns[0] == std::vector<double>{1, 3});
  CHECK(d.columns[1] == std::vector<double>{2, 4});
}

TEST_CASE("csv: a numeric first line is data", "[csv]") {
  Dataset d = parseOk("1,2\n3,4\n", xy());
  CHECK(d.rows == 2);
  CHECK(d.columns[0] == std::vector<double>{1, 3});
}

TEST_CASE("csv: a header only needs one non-number to count", "[csv]") {
  Dataset d = parseOk("1,label\n5,6\n", xy());
  CHECK(d.rows == 1);
  CHECK(d.columns[0] == std::vector<double>{5});
}

TEST_CASE("csv: wide inputs take their columns row-major, in declaration order", "[csv]") {
  std::vector<InputColumns> in = {{"x", 3, 0}, {"y", 1, 0}};
  Dataset d = parseOk("1,2,3,4\n5,6,7,8\n", in);
  CHECK(d.rows == 2);
  CHECK(d.columns[0] == std::vector<double>{1, 2, 3, 5, 6, 7});
  CHECK(d.columns[1] == std::vector<double>{4, 8});
}

TEST_CASE("csv: class labels are read as their integer values", "[csv]") {
  std::vector<InputColumns> in = {{"x", 2, 0}, {"label", 1, 3}};
  Dataset d = parseOk("0.5,-1.25,0\n1e2,2,2\n3,4,1.0\n", in);
  CHECK(d.columns[0] == std::vector<double>{0.5, -1.25, 100, 2, 3, 4});
  CHECK(d.columns[1] == std::vector<double>{0, 2, 1});
}

TEST_CASE("csv: CRLF line ends, a BOM and blank lines are accepted", "[csv]") {
  CHECK(parseOk("x,y\r\n1,2\r\n3,4\r\n", xy()).columns[1] == std::vector<double>{2, 4});
  CHECK(parseOk("\xEF\xBB\xBFx,y\n1,2\n", xy()).rows == 1);
  CHECK(parseOk("\xEF\xBB\xBF" "7,8\n", xy()).columns[0] == std::vector<double>{7});
  CHECK(parseOk("1,2\n\n3,4\n\n\r\n\n", xy()).rows == 2);
  CHECK(parseOk("\n\nx,y\n1,2", xy()).rows == 1);  // header after blank lines; no final newline
}

TEST_CASE("csv: spaces around fields and a leading plus sign are allowed", "[csv]") {
  Dataset d = parseOk(" 1 ,\t+2\n-3,  4.5e1 \n", xy());
  CHECK(d.columns[0] == std::vector<double>{1, -3});
  CHECK(d.columns[1] == std::vector<double>{2, 45});
}

TEST_CASE("csv: a wrong column count names the line, the expected and the found count", "[csv]") {
  CHECK(oneError("x,y\n1,2\n1,2,3\n", xy()) == "d.csv:3: error: expected 2 columns, found 3\n");
  CHECK(oneError("1,2\n\n7\n", xy()) == "d.csv:3: error: expected 2 columns, found 1\n");
}

TEST_CASE("csv: a field that is not a number names its column", "[csv]") {
  CHECK(oneError("1,2\n3,abc\n", xy()) == "d.csv:2: error: column 2: 'abc' is not a number\n");
  CHECK(oneError("1,2\n,4\n", xy()) == "d.csv:2: error: column 1: '' is not a number\n");
  CHECK(oneError("1,2\n3,4x\n", xy()) == "d.csv:2: error: column 2: '4x' is not a number\n");
  CHECK(oneError("1,2\n3,0x10\n", xy()) == "d.csv:2: error: column 2: '0x10' is not a number\n");
  CHECK(oneError("1,2\n3,+-4\n", xy()) == "d.csv:2: error: column 2: '+-4' is not a number\n");
}

TEST_CASE("csv: 1e39 overflows float32 but not float64", "[csv]") {
  CHECK(oneError("1,2\n3,1e39\n", xy(), DType::F32) == "d.csv:2: error: column 2: 1e39 is not a finite float32 number\n");
  CHECK(oneError("1,2\n-1e39,3\n", xy(), DType::F32) ==
        "d.csv:2: error: column 1: -1e39 is not a finite float32 number\n");
  CHECK(parseOk("1,2\n3,1e39\n", xy(), DType::F64).columns[1][1] == 1e39);
  CHECK(oneError("1,2\n3,1e400\n", xy(), DType::F64) ==
        "d.csv:2: error: column 2: 1e400 is not a finite float64 number\n");
}

TEST_CASE("csv: values too small to represent are zero, not errors", "[csv]") {
  Dataset d = parseOk("1e-400,-1e-400\n", xy(), DType::F64);
  CHECK(d.columns[0][0] == 0);
  CHECK(d.columns[1][0] == 0);
}

TEST_CASE("csv: nan and inf are refused in either dtype", "[csv]") {
  for (DType t : {DType::F32, DType::F64}) {
    CHECK_THAT(oneError("1,2\n3,nan\n", xy(), t), Catch::Contains("column 2: nan is not a finite"));
    CHECK_THAT(oneError("1,2\ninf,3\n", xy(), t), Catch::Contains("column 1: inf is not a finite"));
    CHECK_THAT(oneError("1,2\n3,-Infinity\n", xy(), t), Catch::Contains("column 2: -Infinity is not a finite"));
  }
}

TEST_CASE("csv: a label must be an integer in 0..N-1", "[csv]") {
  std::vector<InputColumns> in = {{"x", 4, 0}, {"label", 1, 3}};
  CHECK(oneError("1,2,3,4,3\n", in) == "d.csv:1: error: column 5: label 3 is not an integer in 0..2\n");
  CHECK(oneError("1,2,3,4,-1\n", in) == "d.csv:1: error: column 5: label -1 is not an integer in 0..2\n");
  CHECK(oneError("1,2,3,4,2.5\n", in) == "d.csv:1: error: column 5: label 2.5 is not an integer in 0..2\n");
}

TEST_CASE("csv: a file with no data rows is an error", "[csv]") {
  CHECK(oneError("x,y\n", xy()) == "d.csv: error: no data rows\n");
  CHECK(oneError("", xy()) == "d.csv: error: no data rows\n");
  CHECK(oneError("\n\r\n\n", xy()) == "d.csv: error: no data rows\n");
}

TEST_CASE("csv: errors on several lines are reported together", "[csv]") {
  std::vector<std::string> errors = parseErrors("x,y\n1,2\na,2\n3\n4,5\n6,nan\n", xy());
  REQUIRE(errors.size() == 3);
  CHECK(errors[0] == "d.csv:3: error: column 1: 'a' is not a number\n");
  CHECK(errors[1] == "d.csv:4: error: expected 2 columns, found 1\n");
  CHECK(errors[2] == "d.csv:6: error: column 2: nan is not a finite float32 number\n");
}

TEST_CASE("csv: error collection stops after twenty", "[csv]") {
  std::string text = "x,y\n";
  for (int i = 0; i < 100; ++i) text += "bad,1\n";
  std::vector<std::string> errors = parseErrors(text, xy());
  CHECK(errors.size() == 20);
  CHECK(errors.back() == "d.csv:21: error: column 1: 'bad' is not a number\n");
}

TEST_CASE("csv: loadCsv reads a file and names it by its display name", "[csv]") {
  TempDir dir;
  std::string path = dir.write("data.csv", "a,b\n1,2\n3,x\n");
  Result<Dataset> r = loadCsv(path, "shown.csv", xy(), DType::F32);
  REQUIRE_FALSE(r);
  CHECK(formatDiagnostic(r.errors()[0]) == "shown.csv:3: error: column 2: 'x' is not a number\n");
  path = dir.write("good.csv", "1,2\n3,4");
  Result<Dataset> good = loadCsv(path, "good.csv", xy(), DType::F64);
  REQUIRE(good);
  CHECK(good->rows == 2);
}

TEST_CASE("csv: a file that cannot be read says why", "[csv]") {
  TempDir dir;
  Result<Dataset> missing = loadCsv((dir.path / "nope.csv").string(), "nope.csv", xy(), DType::F32);
  REQUIRE_FALSE(missing);
  CHECK(formatDiagnostic(missing.errors()[0]) == "nope.csv: error: cannot read file: No such file or directory\n");
  Result<Dataset> directory = loadCsv(dir.path.string(), "dir", xy(), DType::F32);
  REQUIRE_FALSE(directory);
  CHECK(formatDiagnostic(directory.errors()[0]) == "dir: error: cannot read file: Is a directory\n");
}

TEST_CASE("csv: loadCsvEither picks the layout by the first row's column count", "[csv]") {
  TempDir dir;
  std::vector<InputColumns> full = {{"x", 2, 0}, {"label", 1, 3}};
  std::vector<InputColumns> subset = {{"x", 2, 0}};

  SECTION("the full layout") {
    Result<Dataset> r = loadCsvEither(dir.write("a.csv", "a,b,c\n1,2,0\n3,4,2\n"), "a.csv", full, subset, DType::F32);
    REQUIRE(r);
    REQUIRE(r->columns.size() == 2);
    CHECK(r->columns[0] == std::vector<double>{1, 2, 3, 4});
    CHECK(r->columns[1] == std::vector<double>{0, 2});
  }
  SECTION("only the inputs of the output") {
    Result<Dataset> r = loadCsvEither(dir.write("b.csv", "a,b\n1,2\n3,4\n"), "b.csv", full, subset, DType::F32);
    REQUIRE(r);
    REQUIRE(r->columns.size() == 1);
    CHECK(r->rows == 2);
    CHECK(r->columns[0] == std::vector<double>{1, 2, 3, 4});
  }
  SECTION("neither: the message names both counts") {
    Result<Dataset> r = loadCsvEither(dir.write("c.csv", "1,2,3,4\n"), "c.csv", full, subset, DType::F32);
    REQUIRE_FALSE(r);
    CHECK(formatDiagnostic(r.errors()[0]) ==
          "c.csv:1: error: expected 3 columns (or 2 with only the inputs of the output), found 4\n");
  }
  SECTION("a later row that fits neither") {
    Result<Dataset> r = loadCsvEither(dir.write("d.csv", "1,2\n3\n"), "d.csv", full, subset, DType::F32);
    REQUIRE_FALSE(r);
    CHECK(formatDiagnostic(r.errors()[0]) ==
          "d.csv:2: error: expected 3 columns (or 2 with only the inputs of the output), found 1\n");
  }
  SECTION("a missing file") {
    Result<Dataset> r = loadCsvEither((dir.path / "none.csv").string(), "none.csv", full, subset, DType::F32);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.errors()[0].message, Catch::StartsWith("cannot read file:"));
  }
}

TEST_CASE("csv: loadCsvEither with equal widths uses the full layout", "[csv]") {
  TempDir dir;
  std::vector<InputColumns> full = {{"x", 2, 0}};
  Result<Dataset> r = loadCsvEither(dir.write("e.csv", "1,2\n1\n"), "e.csv", full, full, DType::F32);
  REQUIRE_FALSE(r);
  CHECK(r.errors()[0].message == "expected 2 columns, found 1");
}
