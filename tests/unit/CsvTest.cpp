// CsvTest: CSV parsing and binding to a model's inputs, as the contract's data-binding rules say.
#include "CsvDataset.h"

#include <catch2/catch.hpp>

#include <cfloat>
#include <cmath>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

using namespace nnjit;

namespace {

/// x[batch, 2] then label[batch] : class(3): three columns per row.
std::vector<InputColumns> xAndLabel() { return {{"x", 2, 0}, {"label", 1, 3}}; }

std::string allMessages(const std::vector<Diagnostic>& errors) {
  std::string out;
  for (const Diagnostic& d : errors) out += d.file + ":" + std::to_string(d.line) + ": " + d.message + "\n";
  return out;
}

/// Expects exactly one error, at `line`, whose message contains every part.
void expectError(const Result<Dataset>& r, int line, std::initializer_list<const char*> parts) {
  REQUIRE_FALSE(r);
  INFO(allMessages(r.errors()));
  REQUIRE(r.errors().size() == 1);
  const Diagnostic& d = r.errors()[0];
  CHECK(d.severity == Severity::Error);
  CHECK(d.file == "data.csv");
  CHECK(d.line == line);
  for (const char* p : parts) CHECK(d.message.find(p) != std::string::npos);
}

/// A file in the temp directory, removed when the test ends.
struct TempFile {
  std::string path;
  explicit TempFile(const std::string& text, const std::string& stem = "csv") {
    path = (std::filesystem::temp_directory_path() /
            ("nnjit_csvtest_" + stem + "_" + std::to_string(::getpid()) + ".csv"))
               .string();
    std::ofstream(path, std::ios::binary) << text;
  }
  ~TempFile() { std::remove(path.c_str()); }
};

} // namespace

TEST_CASE("csv binding: a header line is skipped", "[csv][csvtest]") {
  auto r = parseCsv("a,b,label\n1,2,0\n3,4,2\n", "data.csv", xAndLabel(), DType::F32);
  INFO(allMessages(r.errors()));
  REQUIRE(r);
  CHECK(r->rows == 2);
  REQUIRE(r->columns.size() == 2);
  CHECK(r->columns[0] == std::vector<double>{1, 2, 3, 4});
  CHECK(r->columns[1] == std::vector<double>{0, 2});
}

TEST_CASE("csv binding: without a header every line is data", "[csv][csvtest]") {
  auto r = parseCsv("1,2,0\n3,4,2\n", "data.csv", xAndLabel(), DType::F32);
  REQUIRE(r);
  CHECK(r->rows == 2);
  CHECK(r->columns[0] == std::vector<double>{1, 2, 3, 4});
  CHECK(r->columns[1] == std::vector<double>{0, 2});
}

TEST_CASE("csv binding: a first line that is all numbers is data, even with spaces, signs and exponents", "[csv][csvtest]") {
  auto r = parseCsv(" -1.5 , +2e1,1\n0.25,-0,0\n", "data.csv", xAndLabel(), DType::F32);
  INFO(allMessages(r.errors()));
  REQUIRE(r);
  CHECK(r->rows == 2);
  CHECK(r->columns[0] == std::vector<double>{-1.5, 20, 0.25, 0});
  CHECK(r->columns[1] == std::vector<double>{1, 0});
}

TEST_CASE("csv binding: a header with one non-number field is still a header", "[csv][csvtest]") {
  auto r = parseCsv("1,2,label\n5,6,1\n", "data.csv", xAndLabel(), DType::F32);
  REQUIRE(r);
  CHECK(r->rows == 1);
  CHECK(r->columns[0] == std::vector<double>{5, 6});
}

TEST_CASE("csv binding: only the first line may be a header", "[csv][csvtest]") {
  auto r = parseCsv("a,b,label\n1,2,0\na,b,label\n", "data.csv", xAndLabel(), DType::F32);
  REQUIRE_FALSE(r);
  REQUIRE(r.errors().size() >= 1);
  CHECK(r.errors()[0].line == 3);
}

TEST_CASE("csv binding: wide inputs take their columns row-major in declaration order", "[csv][csvtest]") {
  // a[batch, 2, 2] (4 columns), label class(5), b[batch, 3] (3 columns).
  std::vector<InputColumns> inputs = {{"a", 4, 0}, {"label", 1, 5}, {"b", 3, 0}};
  auto r = parseCsv("a00,a01,a10,a11,label,b0,b1,b2\n"
                    "1,2,3,4,4,5,6,7\n"
                    "11,12,13,14,0,15,16,17\n",
                    "data.csv", inputs, DType::F64);
  INFO(allMessages(r.errors()));
  REQUIRE(r);
  CHECK(r->rows == 2);
  REQUIRE(r->columns.size() == 3);
  CHECK(r->columns[0] == std::vector<double>{1, 2, 3, 4, 11, 12, 13, 14});
  CHECK(r->columns[1] == std::vector<double>{4, 0});
  CHECK(r->columns[2] == std::vector<double>{5, 6, 7, 15, 16, 17});
}

TEST_CASE("csv binding: CRLF line ends", "[csv][csvtest]") {
  auto r = parseCsv("a,b,label\r\n1,2,0\r\n3,4,1\r\n", "data.csv", xAndLabel(), DType::F32);
  INFO(allMessages(r.errors()));
  REQUIRE(r);
  CHECK(r->rows == 2);
  CHECK(r->columns[0] == std::vector<double>{1, 2, 3, 4});
  CHECK(r->columns[1] == std::vector<double>{0, 1});
}

TEST_CASE("csv binding: CRLF error lines keep their numbers", "[csv][csvtest]") {
  auto r = parseCsv("a,b,label\r\n1,2,0\r\n3,x,1\r\n", "data.csv", xAndLabel(), DType::F32);
  expectError(r, 3, {"column 2", "'x'", "not a number"});
}

TEST_CASE("csv binding: a UTF-8 byte order mark before the header or the data", "[csv][csvtest]") {
  auto withHeader = parseCsv("\xEF\xBB\xBF" "a,b,label\n1,2,0\n", "data.csv", xAndLabel(), DType::F32);
  REQUIRE(withHeader);
  CHECK(withHeader->rows == 1);
  CHECK(withHeader->columns[0] == std::vector<double>{1, 2});
  // Without the BOM stripped, "\xEF\xBB\xBF" "1" is not a number and the first row would be a header.
  auto noHeader = parseCsv("\xEF\xBB\xBF" "1,2,0\n3,4,1\n", "data.csv", xAndLabel(), DType::F32);
  REQUIRE(noHeader);
  CHECK(noHeader->rows == 2);
  CHECK(noHeader->columns[0] == std::vector<double>{1, 2, 3, 4});
}

TEST_CASE("csv binding: blank trailing lines (and a missing final newline) are fine", "[csv][csvtest]") {
  auto r = parseCsv("a,b,label\n1,2,0\n3,4,1\n\n\n  \n\r\n", "data.csv", xAndLabel(), DType::F32);
  INFO(allMessages(r.errors()));
  REQUIRE(r);
  CHECK(r->rows == 2);
  auto noNewline = parseCsv("1,2,0\n3,4,1", "data.csv", xAndLabel(), DType::F32);
  REQUIRE(noNewline);
  CHECK(noNewline->rows == 2);
  CHECK(noNewline->columns[1] == std::vector<double>{0, 1});
}

TEST_CASE("csv binding: blank lines in the middle do not shift line numbers", "[csv][csvtest]") {
  auto r = parseCsv("a,b,label\n\n1,2,0\n\n3,4,7\n", "data.csv", xAndLabel(), DType::F32);
  expectError(r, 5, {"column 3", "label 7"});
}

TEST_CASE("csv binding: wrong column count names expected and found", "[csv][csvtest]") {
  SECTION("too few") {
    auto r = parseCsv("a,b,label\n1,2,0\n3,4\n", "data.csv", xAndLabel(), DType::F32);
    expectError(r, 3, {"expected 3 columns", "found 2"});
  }
  SECTION("too many") {
    auto r = parseCsv("1,2,0\n3,4,1,9\n", "data.csv", xAndLabel(), DType::F32);
    expectError(r, 2, {"expected 3 columns", "found 4"});
  }
  SECTION("a trailing comma is an empty extra column") {
    auto r = parseCsv("1,2,0\n1,2,0,\n", "data.csv", xAndLabel(), DType::F32);
    expectError(r, 2, {"expected 3 columns", "found 4"});
  }
}

TEST_CASE("csv binding: a value that is not a number names line and 1-based field", "[csv][csvtest]") {
  SECTION("a word") {
    auto r = parseCsv("a,b,label\n1,2,0\n3,abc,1\n", "data.csv", xAndLabel(), DType::F32);
    expectError(r, 3, {"column 2", "abc", "not a number"});
  }
  SECTION("an empty field") {
    auto r = parseCsv("1,2,0\n,4,1\n", "data.csv", xAndLabel(), DType::F32);
    expectError(r, 2, {"column 1", "not a number"});
  }
  SECTION("trailing garbage after a number") {
    auto r = parseCsv("1,2,0\n3,4x,1\n", "data.csv", xAndLabel(), DType::F32);
    expectError(r, 2, {"column 2", "not a number"});
  }
  SECTION("the label column") {
    auto r = parseCsv("1,2,0\n3,4,one\n", "data.csv", xAndLabel(), DType::F32);
    expectError(r, 2, {"column 3", "not a number"});
  }
}

TEST_CASE("csv binding: 1e39 overflows float32 but not float64", "[csv][csvtest]") {
  std::string text = "a,b,label\n1,1e39,0\n";
  auto f32 = parseCsv(text, "data.csv", xAndLabel(), DType::F32);
  expectError(f32, 2, {"column 2", "1e39", "finite"});
  auto f64 = parseCsv(text, "data.csv", xAndLabel(), DType::F64);
  INFO(allMessages(f64.errors()));
  REQUIRE(f64);
  CHECK(f64->columns[0] == std::vector<double>{1, 1e39});
  // -1e39 too, and the largest float32 is still accepted.
  auto neg = parseCsv("1,-1e39,0\n", "data.csv", xAndLabel(), DType::F32);
  expectError(neg, 1, {"column 2", "finite"});
  auto flt = parseCsv("1,3.4e38,0\n", "data.csv", xAndLabel(), DType::F32);
  REQUIRE(flt);
  // The largest float32 as nnjit writes it (shortest round trip), above it
  // as a double, and the last decimal that still rounds to it; the first that does not.
  for (const char* largest : {"3.4028235e38", "-3.4028235e+38", "3.40282356e38"}) {
    INFO(largest);
    auto top = parseCsv(std::string("1,") + largest + ",0\n", "data.csv", xAndLabel(), DType::F32);
    INFO(allMessages(top.errors()));
    REQUIRE(top);
    CHECK(std::fabs(top->columns[0][1]) == FLT_MAX);
  }
  expectError(parseCsv("1,3.4028236e38,0\n", "data.csv", xAndLabel(), DType::F32), 1, {"column 2", "finite"});
  // 1e309 overflows float64.
  auto huge = parseCsv("1,1e309,0\n", "data.csv", xAndLabel(), DType::F64);
  expectError(huge, 1, {"column 2", "finite"});
}

TEST_CASE("csv binding: nan and inf are rejected", "[csv][csvtest]") {
  for (const char* bad : {"nan", "NaN", "inf", "-inf", "Infinity"}) {
    INFO(bad);
    std::string text = std::string("1,2,0\n4,") + bad + ",1\n";
    for (DType t : {DType::F32, DType::F64}) {
      auto r = parseCsv(text, "data.csv", xAndLabel(), t);
      expectError(r, 2, {"column 2"});
    }
  }
}

TEST_CASE("csv binding: labels must be integers in 0..N-1", "[csv][csvtest]") {
  SECTION("too large") {
    auto r = parseCsv("1,2,0\n3,4,3\n", "data.csv", xAndLabel(), DType::F32);
    expectError(r, 2, {"column 3", "label 3", "0..2"});
  }
  SECTION("negative") {
    auto r = parseCsv("1,2,-1\n", "data.csv", xAndLabel(), DType::F32);
    expectError(r, 1, {"column 3", "0..2"});
  }
  SECTION("not an integer") {
    auto r = parseCsv("1,2,0\n3,4,2.5\n", "data.csv", xAndLabel(), DType::F32);
    expectError(r, 2, {"column 3", "2.5", "0..2"});
  }
  SECTION("1.0 and 2e0 are integers") {
    auto r = parseCsv("1,2,1.0\n3,4,2e0\n", "data.csv", xAndLabel(), DType::F32);
    REQUIRE(r);
    CHECK(r->columns[1] == std::vector<double>{1, 2});
  }
  SECTION("a float input may hold anything finite") {
    auto r = parseCsv("1,2.5,2\n", "data.csv", xAndLabel(), DType::F32);
    REQUIRE(r);
    CHECK(r->columns[0] == std::vector<double>{1, 2.5});
  }
}

TEST_CASE("csv binding: no data rows is an error", "[csv][csvtest]") {
  SECTION("header only") {
    auto r = parseCsv("a,b,label\n", "data.csv", xAndLabel(), DType::F32);
    REQUIRE_FALSE(r);
    REQUIRE(r.errors().size() == 1);
    CHECK(r.errors()[0].file == "data.csv");
  }
  SECTION("empty file") {
    auto r = parseCsv("", "data.csv", xAndLabel(), DType::F32);
    REQUIRE_FALSE(r);
    REQUIRE(r.errors().size() == 1);
    CHECK(r.errors()[0].file == "data.csv");
    CHECK(r.errors()[0].line == 0);
  }
  SECTION("only blank lines") {
    auto r = parseCsv("\n\r\n \n", "data.csv", xAndLabel(), DType::F32);
    REQUIRE_FALSE(r);
  }
}

TEST_CASE("csv binding: several bad lines are reported together, in order", "[csv][csvtest]") {
  auto r = parseCsv("a,b,label\n"
                    "1,2,0\n"    // 2 ok
                    "1,2\n"      // 3 count
                    "1,zz,0\n"   // 4 not a number
                    "1,2,0\n"    // 5 ok
                    "1,2,9\n",   // 6 label
                    "data.csv", xAndLabel(), DType::F32);
  REQUIRE_FALSE(r);
  INFO(allMessages(r.errors()));
  REQUIRE(r.errors().size() == 3);
  CHECK(r.errors()[0].line == 3);
  CHECK(r.errors()[0].message.find("found 2") != std::string::npos);
  CHECK(r.errors()[1].line == 4);
  CHECK(r.errors()[1].message.find("column 2") != std::string::npos);
  CHECK(r.errors()[2].line == 6);
  CHECK(r.errors()[2].message.find("column 3") != std::string::npos);
}

TEST_CASE("csv binding: two bad fields on one line are both reported", "[csv][csvtest]") {
  auto r = parseCsv("1,1,1\nx,1,5\n", "data.csv", xAndLabel(), DType::F32);
  REQUIRE_FALSE(r);
  INFO(allMessages(r.errors()));
  REQUIRE(r.errors().size() == 2);
  CHECK(r.errors()[0].line == 2);
  CHECK(r.errors()[0].message.find("column 1") != std::string::npos);
  CHECK(r.errors()[1].line == 2);
  CHECK(r.errors()[1].message.find("column 3") != std::string::npos);
}

TEST_CASE("csv binding: errors stop after a bounded number", "[csv][csvtest]") {
  std::string text;
  for (int i = 0; i < 100; ++i) text += "1,2\n";
  auto r = parseCsv(text, "data.csv", xAndLabel(), DType::F32);
  REQUIRE_FALSE(r);
  CHECK(r.errors().size() >= 2);
  CHECK(r.errors().size() <= 20);
}

TEST_CASE("csv binding: loadCsv reads a file and names it as displayed", "[csv][csvtest]") {
  TempFile f("a,b,label\r\n1,2,0\r\n3,4,2\r\n", "ok");
  auto r = loadCsv(f.path, "shown.csv", xAndLabel(), DType::F32);
  INFO(allMessages(r.errors()));
  REQUIRE(r);
  CHECK(r->rows == 2);
  CHECK(r->columns[0] == std::vector<double>{1, 2, 3, 4});
  TempFile bad("a,b,label\n1,2,0\n3,4,x\n", "bad");
  auto e = loadCsv(bad.path, "shown.csv", xAndLabel(), DType::F32);
  REQUIRE_FALSE(e);
  REQUIRE(e.errors().size() == 1);
  CHECK(e.errors()[0].file == "shown.csv");
  CHECK(e.errors()[0].line == 3);
}

TEST_CASE("csv binding: an unreadable path is a whole-file error", "[csv][csvtest]") {
  auto missing = loadCsv("/nonexistent/dir/nothing.csv", "nothing.csv", xAndLabel(), DType::F32);
  REQUIRE_FALSE(missing);
  REQUIRE(missing.errors().size() == 1);
  CHECK(missing.errors()[0].file == "nothing.csv");
  CHECK(missing.errors()[0].line == 0);
  CHECK_FALSE(missing.errors()[0].message.empty());
  auto dir = loadCsv(std::filesystem::temp_directory_path().string(), "tmp", xAndLabel(), DType::F32);
  REQUIRE_FALSE(dir);
  CHECK(dir.errors()[0].line == 0);
}

TEST_CASE("csv binding: loadCsvEither picks the full or the subset layout by the first row", "[csv][csvtest]") {
  // Full: x[batch, 2], label class(3) -> 3 columns; subset: x only -> 2 columns.
  std::vector<InputColumns> full = xAndLabel();
  std::vector<InputColumns> subset = {{"x", 2, 0}};
  SECTION("full") {
    TempFile f("a,b,label\n1,2,0\n3,4,2\n", "full");
    auto r = loadCsvEither(f.path, "p.csv", full, subset, DType::F32);
    INFO(allMessages(r.errors()));
    REQUIRE(r);
    CHECK(r->rows == 2);
    REQUIRE(r->columns.size() == 2);
    CHECK(r->columns[0] == std::vector<double>{1, 2, 3, 4});
    CHECK(r->columns[1] == std::vector<double>{0, 2});
  }
  SECTION("subset") {
    TempFile f("a,b\n1,2\n3,4\n5,6\n", "subset");
    auto r = loadCsvEither(f.path, "p.csv", full, subset, DType::F32);
    INFO(allMessages(r.errors()));
    REQUIRE(r);
    CHECK(r->rows == 3);
    REQUIRE(r->columns.size() == 1);
    CHECK(r->columns[0] == std::vector<double>{1, 2, 3, 4, 5, 6});
  }
  SECTION("a later row of the wrong count names both layouts") {
    TempFile f("1,2\n3,4,0\n", "mixed");
    auto r = loadCsvEither(f.path, "p.csv", full, subset, DType::F32);
    REQUIRE_FALSE(r);
    REQUIRE(r.errors().size() == 1);
    CHECK(r.errors()[0].line == 2);
    CHECK(r.errors()[0].message.find("expected 3 columns (or 2 with only the inputs of the output)") !=
          std::string::npos);
    CHECK(r.errors()[0].message.find("found 3") != std::string::npos);
  }
  SECTION("neither layout") {
    TempFile f("1\n", "neither");
    auto r = loadCsvEither(f.path, "p.csv", full, subset, DType::F32);
    REQUIRE_FALSE(r);
    REQUIRE(r.errors().size() == 1);
    CHECK(r.errors()[0].message.find("found 1") != std::string::npos);
  }
  SECTION("a subset row with a bad label column is not a label check") {
    // In the subset layout there is no label: 7 in the second column is a float.
    TempFile f("1,7\n", "sublabel");
    auto r = loadCsvEither(f.path, "p.csv", full, subset, DType::F32);
    REQUIRE(r);
    CHECK(r->columns[0] == std::vector<double>{1, 7});
  }
}

TEST_CASE("csv binding: the values are kept in the model's dtype", "[csv][csvtest]") {
  auto f32 = parseCsv("0.1,2,0\n", "data.csv", xAndLabel(), DType::F32);
  auto f64 = parseCsv("0.1,2,0\n", "data.csv", xAndLabel(), DType::F64);
  REQUIRE(f32);
  REQUIRE(f64);
  CHECK(f32->columns[0].dtype() == DType::F32);
  CHECK(f32->columns[0][0] == static_cast<double>(0.1f));
  CHECK(f64->columns[0].dtype() == DType::F64);
  CHECK(f64->columns[0][0] == 0.1);
}

TEST_CASE("csv binding: a header naming every input column binds by name, in any order", "[csv][csvtest]") {
  auto reordered = parseCsv("label,x1,x0\n0,2,1\n2,4,3\n", "data.csv", xAndLabel(), DType::F32);
  auto plain = parseCsv("1,2,0\n3,4,2\n", "data.csv", xAndLabel(), DType::F32);
  INFO(allMessages(reordered.errors()));
  REQUIRE(reordered);
  REQUIRE(plain);
  CHECK(reordered->columns == plain->columns);
  SECTION("quoted names, with spaces around them") {
    auto quoted = parseCsv(" \"label\" ,\"x1\",x0\n0,2,1\n2,4,3\n", "data.csv", xAndLabel(), DType::F32);
    REQUIRE(quoted);
    CHECK(quoted->columns == plain->columns);
  }
  SECTION("an error names the file's column, not the layout's") {
    auto bad = parseCsv("label,x1,x0\n0,2,1\n2,4,z\n", "data.csv", xAndLabel(), DType::F32);
    expectError(bad, 3, {"column 3:", "'z'"});
    auto label = parseCsv("label,x1,x0\n7,2,1\n", "data.csv", xAndLabel(), DType::F32);
    expectError(label, 2, {"column 1:", "label 7"});
  }
}

TEST_CASE("csv binding: a header that does not name the inputs binds by position", "[csv][csvtest]") {
  std::vector<double> x = {1, 2, 3, 4};
  for (const char* header : {"label,x1,x", "label,x1,x1", "x0,x1,species", "label,x1,x0,", "\"label\"\"\",x1,x0"}) {
    INFO(header);
    auto r = parseCsv(std::string(header) + "\n1,2,0\n3,4,2\n", "data.csv", xAndLabel(), DType::F32);
    if (std::string(header).back() == ',') {  // four header fields over three columns
      expectError(r, 1, {"header has 4 columns", "first row (line 2) has 3"});
      continue;
    }
    INFO(allMessages(r.errors()));
    REQUIRE(r);
    CHECK(r->columns[0] == x);
  }
  SECTION("a one-column input is named plainly, a wider one by flattened index") {
    std::vector<InputColumns> inputs = {{"a", 4, 0}, {"y", 1, 0}};
    auto byName = parseCsv("y,a3,a2,a1,a0\n5,4,3,2,1\n", "data.csv", inputs, DType::F32);
    REQUIRE(byName);
    CHECK(byName->columns[0] == x);
    CHECK(byName->columns[1] == std::vector<double>{5});
    auto perDim = parseCsv("y,a11,a10,a01,a00\n5,4,3,2,1\n", "data.csv", inputs, DType::F32);
    REQUIRE(perDim);  // not the flattened names: by position
    CHECK(perDim->columns[0] == std::vector<double>{5, 4, 3, 2});
  }
}

TEST_CASE("csv binding: a header of another width than the rows is an error naming both", "[csv][csvtest]") {
  auto narrow = parseCsv("a,b\n1,2,0\n3,4,2\n", "data.csv", xAndLabel(), DType::F32);
  expectError(narrow, 1, {"the header has 2 columns, but the first row (line 2) has 3"});
  auto one = parseCsv("names\n1,2,0\n", "data.csv", xAndLabel(), DType::F32);
  expectError(one, 1, {"the header has 1 column, but"});
  auto wide = parseCsv("\n\nx0,x1,label,extra\n1,2,0\n", "data.csv", xAndLabel(), DType::F32);
  expectError(wide, 3, {"the header has 4 columns, but the first row (line 4) has 3"});
}

TEST_CASE("csv binding: quoted numbers read as numbers", "[csv][csvtest]") {
  auto r = parseCsv("\"1.5\", \"2\" ,\"0\"\n\" 3 \",4,\"2\"\n", "data.csv", xAndLabel(), DType::F32);
  INFO(allMessages(r.errors()));
  REQUIRE(r);
  CHECK(r->rows == 2);  // a first line of quoted numbers is data, not a header
  CHECK(r->columns[0] == std::vector<double>{1.5, 2, 3, 4});
  CHECK(r->columns[1] == std::vector<double>{0, 2});
  SECTION("a comma inside quotes does not split the field") {
    auto comma = parseCsv("1,2,0\n1,\"2,5\",0\n", "data.csv", xAndLabel(), DType::F32);
    expectError(comma, 2, {"column 2:", "'\"2,5\"' is not a number"});
  }
  SECTION("a stray quote is not a number") {
    auto stray = parseCsv("1,2,0\n1,\"2,0\n", "data.csv", xAndLabel(), DType::F32);
    REQUIRE_FALSE(stray);
    auto inner = parseCsv("1,2,0\n1,\"2\"\"\",0\n", "data.csv", xAndLabel(), DType::F32);
    expectError(inner, 2, {"column 2:", "is not a number"});
  }
}

TEST_CASE("csv binding: loadCsvEither takes the layout a header names", "[csv][csvtest]") {
  // Full: x[batch, 2], label class(3); subset: x only. Each row's values come out in layout order.
  auto columnsOf = [](const std::string& text, const char* stem) {
    TempFile f(text, stem);
    auto r = loadCsvEither(f.path, "p.csv", xAndLabel(), {{"x", 2, 0}}, DType::F32);
    INFO(allMessages(r.errors()));
    REQUIRE(r);
    std::vector<std::vector<double>> columns;
    for (const DataColumn& c : r->columns) columns.push_back(c.values());
    return columns;
  };
  CHECK(columnsOf("label,x1,x0\n0,2,1\n", "namedfull") == std::vector<std::vector<double>>{{1, 2}, {0}});
  CHECK(columnsOf("x1,x0\n2,1\n4,3\n", "namedsub") == std::vector<std::vector<double>>{{1, 2, 3, 4}});
  // A header that names neither layout: the first row's width decides, as without one.
  CHECK(columnsOf("x1,x0,extra\n2,1,0\n", "unnamed") == std::vector<std::vector<double>>{{2, 1}, {0}});
}
