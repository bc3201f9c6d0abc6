// NnjitRunner: runs the real `nnjit train ... --log json` and reads its per-epoch losses and `done` line.
#include "NnjitRunner.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace nnjit::bench {

namespace {

/// A shell word: single quotes, with embedded ones closed and escaped.
std::string quote(const std::string &s) {
  std::string out = "'";
  for (char c : s)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

void applyCache(const CacheSetting &cache) {
  if (cache.enabled) {
    unsetenv("NNJIT_CACHE");
    setenv("NNJIT_CACHE_DIR", cache.cacheDir.c_str(), 1);
  } else {
    setenv("NNJIT_CACHE", "0", 1);
  }
}

std::string fileText(const std::string &path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// The JSON lines of one run; false when its `done` line is missing.
bool parseLog(const std::string &path, NnjitRun &run) {
  std::ifstream in(path);
  std::string line;
  bool done = false;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object()) continue;
    if (j.contains("done")) {
      run.compileMs = j.value("compile_ms", 0.0);
      run.trainMs = j.value("train_ms", 0.0);
      done = true;
    } else if (j.contains("epoch") && j["loss"].is_number()) {
      run.epochLoss.push_back(j["loss"].get<double>());
      run.epochMsSum += j.value("ms", 0.0);
    }
  }
  return done;
}

} // namespace

std::optional<NnjitRun> runNnjit(const std::string &nnjit, const std::string &model,
                                 const std::vector<std::string> &args, const CacheSetting &cache,
                                 const std::string &workDir) {
  std::string out = workDir + "/nnjit.out", err = workDir + "/nnjit.err";
  std::string cmd = quote(nnjit) + " train " + quote(model);
  for (const std::string &a : args)
    cmd.append(" ").append(quote(a));
  cmd += " --log json --threads 1 >" + quote(out) + " 2>" + quote(err);
  applyCache(cache);
  int status = std::system(cmd.c_str());
  NnjitRun run;
  if (status != 0 || !parseLog(out, run)) {
    std::fprintf(stderr, "bench: `%s` failed (status %d):\n%s", cmd.c_str(), status, fileText(err).c_str());
    return std::nullopt;
  }
  return run;
}

} // namespace nnjit::bench
