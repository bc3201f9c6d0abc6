// Tools: typo suggestions and build facts for tools built on the API.
#include "nnjit/Tools.h"

#include "EditDistance.h"
#include "HostInfo.h"

namespace nnjit::api {

std::optional<std::string> closestName(std::string_view typo, const std::vector<std::string>& candidates) {
  return nnjit::closestName(typo, candidates);
}

BuildInfo buildInfo() {
  nnjit::HostInfo h = nnjit::hostInfo();
  return {h.version, h.llvmVersion, h.cpu, h.vectorBits};
}

} // namespace nnjit::api
