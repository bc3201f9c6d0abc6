// Jit: optimizes an LLVM module for the host CPU and compiles it in memory with ORC.
#include "Jit.h"

#include "ObjectCache.h"

#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/CommandLine.h>
#include <llvm/Support/DynamicLibrary.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>
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
/// the vectors itself, unrolls kernels of up to 8 iterations and emits its
/// loops rotated with one canonical counter, so LLVM's vectorizer, unroller,
/// loop rotation and induction-variable passes, most of O2's time, are left
/// out; so is GVN, whose redundant loads early-cse already finds here.
const char* const kLeanPipeline =
    "always-inline,function(sroa,early-cse,instcombine<no-verify-fixpoint>,simplifycfg,"
    "loop-mssa(licm),simplifycfg)";

double msSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

std::string errorText(llvm::Error e) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << e;
  return s;
}

/// Builds the backend's pass list with loop strength reduction turned off:
/// it was a third of native code generation time, and the kernels do not
/// need it (the matmul carries its pointers as phis; other loops index with
/// x86's scaled addressing). LLVM offers no per-target switch, only its
/// `-disable-lsr` option, so that is set just while the list is built.
bool addCodeGenPasses(llvm::TargetMachine& tm, llvm::legacy::PassManager& pm, llvm::raw_pwrite_stream& out,
                      llvm::CodeGenFileType type) {
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  auto* disableLsr = static_cast<llvm::cl::opt<bool>*>(llvm::cl::getRegisteredOptions().lookup("disable-lsr"));
  bool before = disableLsr ? disableLsr->getValue() : false;
  if (disableLsr) disableLsr->setValue(true);
  bool failed = tm.addPassesToEmitFile(pm, out, nullptr, type);
  if (disableLsr) disableLsr->setValue(before);
  return !failed;
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
  if (!addCodeGenPasses(*impl_->tm, pm, os, llvm::CodeGenFileType::AssemblyFile)) return "";
  pm.run(module);
  return std::string(out.str());
}

Result<std::string> Jit::emitObject(llvm::Module& module) {
  llvm::SmallString<16384> bytes;
  llvm::raw_svector_ostream os(bytes);
  llvm::legacy::PassManager pm;
  if (!addCodeGenPasses(*impl_->tm, pm, os, llvm::CodeGenFileType::ObjectFile))
    return fileError("", "JIT: this CPU cannot emit object files");
  pm.run(module);
  return std::string(bytes.str());
}

Status Jit::link(const std::string& object, const llvm::Module& module) {
  auto buffer = llvm::MemoryBuffer::getMemBufferCopy(object, "nnjit-model.o");
  if (auto err = impl_->jit->addObjectFile(std::move(buffer))) return fileError("", "JIT: " + errorText(std::move(err)));
  if (perfMapRequested()) writePerfMap(module);
  return Ok{};
}

Status Jit::add(llvm::Module& module) {
  auto t0 = std::chrono::steady_clock::now();
  Result<std::string> object = emitObject(module);
  if (!object) return object.errors().front();
  Status linked = link(*object, module);
  codegenMs = msSince(t0);
  return linked;
}

Status Jit::compile(llvm::Module& module) {
  auto t0 = std::chrono::steady_clock::now();
  module.setDataLayout(impl_->tm->createDataLayout());
  module.setTargetTriple(impl_->tm->getTargetTriple().str());
  ObjectCache cache(module, *impl_->tm, std::string(kLeanPipeline) + "; backend without LSR");
  std::optional<std::string> object = cache.load();
  cacheHit = object.has_value();
  if (!object) {
    optimize(module);
    t0 = std::chrono::steady_clock::now();
    Result<std::string> emitted = emitObject(module);
    if (!emitted) return emitted.errors().front();
    object = std::move(*emitted);
    cache.store(*object);
  }
  Status linked = link(*object, module);
  codegenMs = msSince(t0);
  return linked;
}

bool Jit::perfMapRequested() {
  const char* v = std::getenv("NNJIT_PERF_MAP");
  return v && std::string(v) == "1";
}

/// perf's JIT symbol file: one `ADDRESS SIZE NAME` line per function, the
/// size taken as the distance to the next one.
void Jit::writePerfMap(const llvm::Module& module) {
  std::vector<std::pair<uint64_t, std::string>> symbols;
  for (const llvm::Function& f : module)
    if (!f.isDeclaration() && f.hasExternalLinkage())
      if (auto sym = impl_->jit->lookup(f.getName())) symbols.emplace_back(sym->getValue(), f.getName().str());
      else llvm::consumeError(sym.takeError());
  std::sort(symbols.begin(), symbols.end());
  std::FILE* map = std::fopen(("/tmp/perf-" + std::to_string(getpid()) + ".map").c_str(), "a");
  if (!map) return;
  for (size_t i = 0; i < symbols.size(); ++i) {
    uint64_t size = i + 1 < symbols.size() ? symbols[i + 1].first - symbols[i].first : 4096;
    std::fprintf(map, "%llx %llx %s\n", static_cast<unsigned long long>(symbols[i].first),
                 static_cast<unsigned long long>(size), symbols[i].second.c_str());
  }
  std::fclose(map);
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
