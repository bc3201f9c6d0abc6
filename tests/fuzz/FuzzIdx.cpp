// FuzzIdx: libFuzzer target for the IDX data loader (raw or gzip), bound to images-and-labels inputs.
#include "IdxDataset.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The loader reads files by path: the input becomes an anonymous file, named through /proc.
  int fd = memfd_create("fuzz-idx", MFD_CLOEXEC);
  if (fd < 0) return 0;
  if (write(fd, data, size) == static_cast<ssize_t>(size)) {
    std::string path = "/proc/self/fd/" + std::to_string(fd);
    std::vector<nnjit::DataSource> files = {{path, "fuzz.idx"}};
    nnjit::dataFormat(files);
    std::vector<bool> bound;
    nnjit::loadIdx(files, {{"x", 4, 0}, {"label", 1, 3}}, {false, false}, nnjit::DType::F32, "fuzz.nn", bound);
    nnjit::loadIdx(files, {{"x", 1, 0}}, {true}, nnjit::DType::F64, "fuzz.nn", bound);
  }
  close(fd);
  return 0;
}
