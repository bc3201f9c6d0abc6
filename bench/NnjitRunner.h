// NnjitRunner: runs the real `nnjit train ... --log json` and reads its per-epoch losses and `done` line.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace nnjit::bench {

struct NnjitRun {
  double compileMs = 0;
  double trainMs = 0;
  std::vector<double> epochLoss; // one per epoch, from the JSON lines
  double epochMsSum = 0;         // their "ms": train_ms less the log lines and the loop around the epochs
};

/// How the object cache is set for a run: off (NNJIT_CACHE=0, every compile
/// goes through LLVM) or kept in `cacheDir`.
struct CacheSetting {
  bool enabled = false;
  std::string cacheDir;
};

/// `nnjit train MODEL ARGS... --log json --threads 1`, stdout and stderr kept
/// in files under `workDir`; nothing (after printing why) when it fails.
std::optional<NnjitRun> runNnjit(const std::string &nnjit, const std::string &model,
                                 const std::vector<std::string> &args, const CacheSetting &cache,
                                 const std::string &workDir);

} // namespace nnjit::bench
