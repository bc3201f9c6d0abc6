// PngPixels: decodes the 8-bit RGB/RGBA, non-interlaced PNGs that rsvg-convert writes, for tests that look at pictures.
#pragma once

#include <zlib.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

namespace nnjit::test {

struct Image {
  uint32_t width = 0, height = 0;
  std::vector<std::array<uint8_t, 4>> pixels;  // RGBA, row-major
};

namespace png {

inline uint32_t bigEndian(const std::string& s, size_t at) {
  return uint32_t(uint8_t(s[at])) << 24 | uint32_t(uint8_t(s[at + 1])) << 16 | uint32_t(uint8_t(s[at + 2])) << 8 |
         uint8_t(s[at + 3]);
}

inline int paeth(int a, int b, int c) {
  int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/// Undoes the per-row filters of `raw` in place (rows of 1 filter byte then `stride` bytes).
inline bool unfilter(std::vector<uint8_t>& raw, size_t stride, size_t rows, size_t bpp) {
  for (size_t y = 0; y < rows; ++y) {
    uint8_t* row = raw.data() + y * (stride + 1) + 1;
    const uint8_t* up = y ? row - (stride + 1) : nullptr;
    int filter = row[-1];
    for (size_t x = 0; x < stride; ++x) {
      int a = x >= bpp ? row[x - bpp] : 0, b = up ? up[x] : 0, c = up && x >= bpp ? up[x - bpp] : 0;
      int add = filter == 0 ? 0 : filter == 1 ? a : filter == 2 ? b : filter == 3 ? (a + b) / 2 : paeth(a, b, c);
      if (filter > 4) return false;
      row[x] = uint8_t(row[x] + add);
    }
  }
  return true;
}

} // namespace png

/// None when `bytes` is not such a PNG.
inline std::optional<Image> decodePng(const std::string& bytes) {
  if (bytes.size() < 8 || bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) return std::nullopt;
  Image img;
  int channels = 0;
  std::string idat;
  for (size_t at = 8; at + 12 <= bytes.size();) {
    uint32_t len = png::bigEndian(bytes, at);
    std::string type = bytes.substr(at + 4, 4);
    if (at + 12 + len > bytes.size()) return std::nullopt;
    if (type == "IHDR") {
      img.width = png::bigEndian(bytes, at + 8);
      img.height = png::bigEndian(bytes, at + 12);
      int depth = uint8_t(bytes[at + 16]), colour = uint8_t(bytes[at + 17]), interlace = uint8_t(bytes[at + 20]);
      channels = colour == 6 ? 4 : colour == 2 ? 3 : 0;
      if (depth != 8 || channels == 0 || interlace != 0) return std::nullopt;
    } else if (type == "IDAT") {
      idat += bytes.substr(at + 8, len);
    }
    at += 12 + len;
  }
  size_t stride = size_t(img.width) * channels;
  std::vector<uint8_t> raw((stride + 1) * img.height);
  uLongf size = raw.size();
  if (channels == 0 || uncompress(raw.data(), &size, reinterpret_cast<const Bytef*>(idat.data()), idat.size()) != Z_OK ||
      size != raw.size() || !png::unfilter(raw, stride, img.height, channels))
    return std::nullopt;
  for (size_t y = 0; y < img.height; ++y)
    for (size_t x = 0; x < img.width; ++x) {
      const uint8_t* p = raw.data() + y * (stride + 1) + 1 + x * channels;
      img.pixels.push_back({p[0], p[1], p[2], uint8_t(channels == 4 ? p[3] : 255)});
    }
  return img;
}

} // namespace nnjit::test
