// Jit: optimizes an LLVM module for the host CPU and compiles it in memory with ORC.
#include "Jit.h"

#include "ObjectCache.h"

#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/DynamicLibrary.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include <chrono>
#include <mutex>

namespace nnjit {

struct Jit::Impl {
  std::unique_ptr<llvm::orc::LLJIT> jit;
  std::unique_ptr<llvm::TargetMachine> tm;
};

namespace {

/// The passes that matter for generated loop nests, not the whole O2 list:
/// inline the kernels, promote accumulators to registers, hoist invariants
/// (adam's bias corrections, a broadcast bias) and clean up. CodeGen emits
/// the vectors itself and unrolls kernels of up to 8 iterations, so LLVM's
/// vectorizer and unroller, most of O2's time, are left out.
const char* const kLeanPipeline =
    "always-inline,function(sroa,early-cse,instcombine<no-verify-fixpoint>,simplifycfg,"
    "loop-mssa(loop-rotate,licm),gvn,indvars,instcombine<no-verify-fixpoint>,simplifycfg)";

double msSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

std::string errorText(llvm::Error e) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << e;
  return s;
}

} // namespace

void initializeNativeTarget() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
    // glibc's vector math library: the SIMD exp, log, sin... that vector kernels call.
    llvm::sys::DynamicLibrary::LoadLibraryPermanently("libmvec.so.1");
  });
}

Jit::Jit(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Jit::~Jit() = default;

Result<std::unique_ptr<Jit>> Jit::create() {
  initializeNativeTarget();
  auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!jtmb) return fileError("", "cannot target this CPU: " + errorText(jtmb.takeError()));
  jtmb->setCodeGenOptLevel(llvm::CodeGenOptLevel::Default);
  auto tm = jtmb->createTargetMachine();
  if (!tm) return fileError("", "cannot target this CPU: " + errorText(tm.takeError()));
  auto jit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(*jtmb).create();
  if (!jit) return fileError("", "cannot start the JIT: " + errorText(jit.takeError()));
  auto gen = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess((*jit)->getDataLayout().getGlobalPrefix());
  if (!gen) return fileError("", "cannot start the JIT: " + errorText(gen.takeError()));
  (*jit)->getMainJITDylib().addGenerator(std::move(*gen));
  auto impl = std::make_unique<Impl>();
  impl->jit = std::move(*jit);
  impl->tm = std::move(*tm);
  return std::unique_ptr<Jit>(new Jit(std::move(impl)));
}

void Jit::optimize(llvm::Module& module) {
  auto t0 = std::chrono::steady_clock::now();
  module.setDataLayout(impl_->tm->createDataLayout());
  module.setTargetTriple(impl_->tm->getTargetTriple().str());
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb(impl_->tm.get());
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager mpm;
  llvm::cantFail(pb.parsePassPipeline(mpm, kLeanPipeline));
  mpm.run(module, mam);
  optimizeMs = msSince(t0);
}

std::string Jit::assembly(llvm::Module& module) {
  llvm::SmallString<4096> out;
  llvm::raw_svector_ostream os(out);
  llvm::legacy::PassManager pm;
  if (impl_->tm->addPassesToEmitFile(pm, os, nullptr, llvm::CodeGenFileType::AssemblyFile)) return "";
  pm.run(module);
  return std::string(out.str());
}

Status Jit::add(std::unique_ptr<llvm::Module> module, std::unique_ptr<llvm::LLVMContext> ctx) {
  auto t0 = std::chrono::steady_clock::now();
  llvm::orc::ThreadSafeModule tsm(std::move(module), std::move(ctx));
  if (auto err = impl_->jit->addIRModule(std::move(tsm))) return fileError("", "JIT: " + errorText(std::move(err)));
  codegenMs = msSince(t0);
  return Ok{};
}

Status Jit::compile(llvm::Module& module) {
  auto t0 = std::chrono::steady_clock::now();
  module.setDataLayout(impl_->tm->createDataLayout());
  module.setTargetTriple(impl_->tm->getTargetTriple().str());
  ObjectCache cache(module, *impl_->tm, false);
  std::optional<std::string> object = cache.load();
  cacheHit = object.has_value();
  if (!object) {
    optimize(module);
    t0 = std::chrono::steady_clock::now();
    llvm::SmallString<16384> bytes;
    llvm::raw_svector_ostream os(bytes);
    llvm::legacy::PassManager pm;
    if (impl_->tm->addPassesToEmitFile(pm, os, nullptr, llvm::CodeGenFileType::ObjectFile))
      return fileError("", "JIT: this CPU cannot emit object files");
    pm.run(module);
    object = std::string(bytes.str());
    cache.store(*object);
  }
  auto buffer = llvm::MemoryBuffer::getMemBufferCopy(*object, "nnjit-model.o");
  if (auto err = impl_->jit->addObjectFile(std::move(buffer))) return fileError("", "JIT: " + errorText(std::move(err)));
  codegenMs = msSince(t0);
  return Ok{};
}

EntryFn Jit::lookup(const std::string& name) {
  auto t0 = std::chrono::steady_clock::now();
  auto sym = impl_->jit->lookup(name);
  if (!sym) {
    llvm::consumeError(sym.takeError());
    return nullptr;
  }
  codegenMs += msSince(t0);  // ORC compiles lazily, at the first lookup
  return sym->toPtr<EntryFn>();
}

} // namespace nnjit
