// IdxFiles: IDX data files (MNIST's format), raw or gzip-compressed, written by the tests.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace nnjit::testing {

/// An IDX file: the magic (two zero bytes, `type`, the dim count), each dim
/// as a big-endian 32-bit number, then `payload` as it is.
inline std::string idxBytes(uint8_t type, const std::vector<uint32_t>& dims, const std::string& payload) {
  std::string out{'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((d >> shift) & 0xFF);
  return out + payload;
}

/// Unsigned bytes (type 0x08), as images and labels are stored.
inline std::string idxUbyte(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& values) {
  return idxBytes(0x08, dims, std::string(values.begin(), values.end()));
}

/// `values` as big-endian bytes of T, as IDX stores elements wider than a byte.
template <class T>
std::string bigEndian(const std::vector<T>& values) {
  std::string out;
  for (T v : values) {
    unsigned char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    for (size_t i = sizeof(T); i-- > 0;) out += static_cast<char>(b[i]);  // the tests run little-endian
  }
  return out;
}

/// `raw` as one whole gzip stream (header, deflate data, CRC and length), by zlib.
inline std::string gzipped(const std::string& raw) {
  z_stream s{};
  if (deflateInit2(&s, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2");
  std::string out(deflateBound(&s, raw.size()) + 32, '\0');
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  s.avail_in = static_cast<uInt>(raw.size());
  s.next_out = reinterpret_cast<Bytef*>(out.data());
  s.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&s, Z_FINISH);
  out.resize(s.total_out);
  deflateEnd(&s);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate");
  return out;
}

/// `count` learnable images of side x side pixels and their labels 0..classes-1:
/// image i has label i % classes and a bright vertical band where its label
/// says, over deterministic noise.
inline void bandImages(uint32_t count, uint32_t side, uint32_t classes, std::string& images, std::string& labels,
                       uint32_t seed = 1) {
  std::vector<uint8_t> pixels, tags;
  uint32_t state = seed;
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t label = i % classes;
    tags.push_back(static_cast<uint8_t>(label));
    for (uint32_t r = 0; r < side; ++r)
      for (uint32_t c = 0; c < side; ++c) {
        state = state * 1664525u + 1013904223u;
        bool band = c * classes / side == label;
        pixels.push_back(static_cast<uint8_t>((band ? 160 : 0) + (state >> 26)));
      }
  }
  images = idxUbyte({count, side, side}, pixels);
  labels = idxUbyte({count}, tags);
}

} // namespace nnjit::testing
