// Tools.h: what a command-line tool built on nnjit needs besides models — typo suggestions and build facts.
#pragma once

#include <nnjit/Expected.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nnjit::api {

/// The candidate `typo` most likely meant, as the compiler's own "did you
/// mean" chooses it: the nearest by edit distance (adjacent swaps count as
/// one edit), at most a third of the typo's length away (at least 1), never
/// a complete rewrite; ties go to the first candidate. None when none is close.
NNJIT_API std::optional<std::string> closestName(std::string_view typo, const std::vector<std::string>& candidates);

/// This build of nnjit and the machine it runs on.
struct BuildInfo {
  std::string version;      ///< nnjit's version
  std::string llvmVersion;  ///< the LLVM it compiles with
  std::string cpu;          ///< LLVM's name for the host CPU (e.g. "znver4"), which kernels target
  int vectorBits = 0;       ///< the vector width kernels use on it: 128, 256 or 512
  std::string mpi;          ///< the MPI library an mpirun job trains through; empty in a build without MPI
};

NNJIT_API BuildInfo buildInfo();

/// Writes `bytes` as `path` the way `Session::save` writes a checkpoint:
/// readers see the old file or the whole new one, never half (a temporary
/// in the same folder, synced, then renamed). An Io error naming `path`.
NNJIT_API Status writeFileAtomically(const std::string& path, const std::string& bytes);

} // namespace nnjit::api
