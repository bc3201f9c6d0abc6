// JsonLine: one JSON object on one line, spaced like the contract's examples.
#include "JsonLine.h"

namespace nnjit {

std::string jsonLine(const nlohmann::ordered_json& j) {
  if (j.is_object()) {
    std::string out = "{";
    const char* sep = "";
    for (auto it = j.begin(); it != j.end(); ++it) {
      out += sep + nlohmann::ordered_json(it.key()).dump() + ": " + jsonLine(it.value());
      sep = ", ";
    }
    return out + "}";
  }
  if (j.is_array()) {
    std::string out = "[";
    const char* sep = "";
    for (const auto& v : j) {
      out += sep + jsonLine(v);
      sep = ", ";
    }
    return out + "]";
  }
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

} // namespace nnjit
