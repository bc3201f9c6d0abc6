// JsonLine: one JSON object on one line, spaced like the contract's examples.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace nnjit {

/// `{"epoch": 1, "loss": 36.0}`: ", " and ": " separators, keys in insertion order.
std::string jsonLine(const nlohmann::ordered_json& j);

} // namespace nnjit
