// FuzzSafetensors: libFuzzer target for the safetensors checkpoint reader.
#include "Checkpoint.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  nnjit::parseSafetensors(bytes, "fuzz.safetensors");
  return 0;
}
