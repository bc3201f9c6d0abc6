// FuzzCsv: libFuzzer target for the CSV data loader, bound to iris.nn's inputs.
#include "CsvDataset.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<nnjit::InputColumns> inputs = {{"x", 4, 0}, {"label", 1, 3}};
  std::string_view text(reinterpret_cast<const char*>(data), size);
  nnjit::parseCsv(text, "fuzz.csv", inputs, nnjit::DType::F32);
  nnjit::parseCsv(text, "fuzz.csv", {{"x", 2, 0}}, nnjit::DType::F64);
  return 0;
}
