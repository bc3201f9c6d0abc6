// CodeGen: the scheduled graph to LLVM IR — one loop nest per kernel, one function per entry point.
#pragma once

#include "DType.h"
#include "HostInfo.h"
#include "passes/MemoryPlan.h"

#include <map>
#include <set>
#include <memory>

namespace llvm {
class LLVMContext;
class Module;
} // namespace llvm

namespace nnjit {

/// One generated entry point: `void NAME(void* const* buffers, int64_t batch)`.
struct FunctionCode {
  std::string name;
  Schedule schedule;
  MemoryPlan memory;
  std::map<NodeId, int> writesToSlot;            // kernels whose buffer is a caller's slot
  std::vector<std::pair<NodeId, int>> copies;    // after the kernels: slot <- value
  std::vector<std::pair<NodeId, int>> assigns;   // last of all: slot <- value (updates)
  int finiteGuardSlot = -1;  // the assigns run only when this scalar slot is finite
  /// Updates computed straight into their slot (see passes/InPlace.h); the
  /// guard runs before kernel `guardBeforeKernel` (an index into the schedule's kernels).
  std::set<NodeId> inPlace;
  int guardBeforeKernel = -1;
  /// By kernel: in-place updates it computes along the way and stores into
  /// their slots too, at the index it writes (see passes/MergeUpdates.h).
  std::map<NodeId, std::vector<NodeId>> alsoStores;
};

struct CodeGenInput {
  const Graph* graph = nullptr;
  DType dtype = DType::F32;
  std::map<NodeId, int> leafSlot;   // Input, Param, State, Epoch and Step leaves
  int arenaSlot = 0;
  int workersSlot = 0;  // holds a Workers (Workers.h): the threads kernels split across
  std::vector<FunctionCode> functions;
  VectorTarget target;  // what the kernels' explicit vectors are sized for
  bool profileKernels = false;  // kernels stay separate, named functions
};

struct ModulePlan;

/// Emits what part `part` of `plan` holds of `in` (entry points and
/// kernels, see ModulePlan.h) into a fresh module of `ctx`.
std::unique_ptr<llvm::Module> generateIR(llvm::LLVMContext& ctx, const CodeGenInput& in, const ModulePlan& plan,
                                         size_t part);

} // namespace nnjit
