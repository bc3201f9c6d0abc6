// ModulePlan: which LLVM module each entry point and each kernel is generated in. A kernel that
// several entry points run alike (the forward pass of train and eval) is generated once, and the
// modules are balanced so that LLVM compiles them side by side, one per compile thread.
#pragma once

#include "CodeGen.h"

#include <string>
#include <vector>

namespace nnjit {

/// One kernel call of an entry point.
struct KernelCall {
  enum class Kind { Compute, Copy };
  Kind kind = Kind::Compute;
  NodeId node = kNoNode;
  std::vector<NodeId> reads;  // the buffers its loop reads, in argument order
  bool inPlace = false;       // an update that writes the slot it reads: its buffers may alias
  int slot = -1;              // Copy: the slot it writes
  bool guarded = false;       // runs only when the finite guard holds
  /// In-place updates computed along the way and stored too, into the
  /// buffers that follow the output among the arguments (FunctionCode::alsoStores).
  std::vector<NodeId> alsoStores;

  /// The output, what is stored along with it, then the reads: the kernel's buffer arguments.
  size_t buffers() const { return 1 + alsoStores.size() + reads.size(); }

  /// What the kernel's function is, up to which buffers it is called with:
  /// its kind, its arguments and the computation between them (each node's
  /// op, attributes and shape, in order, a read as its argument's number).
  /// Calls with equal keys (the same layer shape in two layers, the forward
  /// pass of train and eval) generate the same function.
  std::string key(const Graph& g, const Schedule& s) const;
};

/// The calls entry point `fc` makes, in order: its kernels, its copies to slots, its updates.
std::vector<KernelCall> kernelCalls(const CodeGenInput& in, const FunctionCode& fc);

struct ModulePlan {
  /// A kernel with a function of its own, which entry points call by name
  /// (`symbol`, and `symbol.range` for the workers when it splits into units).
  struct Kernel {
    std::string symbol;
    size_t function = 0;  // the entry point whose schedule it is generated with
    KernelCall call;
  };
  std::vector<Kernel> kernels;
  /// By entry point, by call: the kernel called (an index into `kernels`),
  /// or -1 for a scalar kernel, whose few instructions are emitted inline.
  std::vector<std::vector<int>> kernelOf;
  struct Part {
    std::vector<size_t> functions, kernels;  // what one module defines
  };
  std::vector<Part> parts;
};

/// Every non-scalar kernel of `in` once, and the entry points and kernels
/// dealt into at most `parts` modules of about the same compile time.
ModulePlan planModules(const CodeGenInput& in, size_t parts);

/// Calls [first, first + period * count) of an entry point: one block of
/// `period` calls made `count` times over, call for call of the same kernel
/// (the updates of ten thousand scalar params, say). Emitted as a loop over
/// a table of their buffers, in the same order: one loop body for LLVM to
/// compile instead of every call.
struct CallRun {
  size_t first = 0, period = 1, count = 1;
};

/// The runs among calls whose `keys` (KernelCall::key, or anything that is
/// equal for calls of the same kernel) are not empty: a call with an empty
/// key is never in one. Each run repeats its block at least 8 times.
std::vector<CallRun> repeatedRuns(const std::vector<std::string>& keys);

} // namespace nnjit
