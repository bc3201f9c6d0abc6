// Tools: typo suggestions and build facts for tools built on the API.
#include "nnjit/Tools.h"

#include "AtomicFile.h"
#include "EditDistance.h"
#include "Internal.h"
#include "HostInfo.h"

namespace nnjit::api {

std::optional<std::string> closestName(std::string_view typo, const std::vector<std::string>& candidates) {
  return nnjit::closestName(typo, candidates);
}

BuildInfo buildInfo() {
  nnjit::HostInfo h = nnjit::hostInfo();
  return {h.version, h.llvmVersion, h.cpu, h.vectorBits, nnjit::mpiLibrary()};
}

Status writeFileAtomically(const std::string& path, const std::string& bytes) {
  nnjit::Status ok = nnjit::writeFileAtomically(path, bytes);
  if (!ok) return Error(ErrorKind::Io, publicDiagnostics(ok.errors()));
  return {};
}

} // namespace nnjit::api
