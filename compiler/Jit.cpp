// Jit: optimizes an LLVM module for the host CPU and compiles it in memory with ORC.
#include "Jit.h"

#include "CodeKey.h"
#include "HostInfo.h"
#include "InternalError.h"
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
#include <atomic>
#include <mutex>
#include <optional>
#include <thread>

namespace nnjit {

namespace {

std::string errorText(llvm::Error e) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << e;
  return s;
}

} // namespace

/// The target machine and the linker are made when first needed: native
/// code taken from the object cache needs no target machine, and the linker
/// is made with the data layout the code was compiled with.
struct Jit::Impl {
  llvm::orc::JITTargetMachineBuilder builder;  // the host; also one more target machine per compile thread
  std::unique_ptr<llvm::TargetMachine> tm;
  std::unique_ptr<llvm::orc::LLJIT> jit;

  llvm::TargetMachine& machine() {
    if (!tm) {
      auto made = builder.createTargetMachine();
      if (!made) internalError(("cannot target this CPU: " + errorText(made.takeError())).c_str());
      tm = std::move(*made);
    }
    return *tm;
  }

  std::string dataLayout() { return machine().createDataLayout().getStringRepresentation(); }

  Status startLinker(const std::string& layout) {
    if (jit) return Ok{};
    auto parsed = llvm::DataLayout::parse(layout);
    if (!parsed) return fileError("", "cannot start the JIT: " + errorText(parsed.takeError()));
    auto made = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(builder).setDataLayout(*parsed).create();
    if (!made) return fileError("", "cannot start the JIT: " + errorText(made.takeError()));
    auto gen = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess((*made)->getDataLayout().getGlobalPrefix());
    if (!gen) return fileError("", "cannot start the JIT: " + errorText(gen.takeError()));
    (*made)->getMainJITDylib().addGenerator(std::move(*gen));
    jit = std::move(*made);
    return Ok{};
  }

  ObjectCache::Target cacheTarget() const {
    return {builder.getTargetTriple().str(), builder.getCPU(), builder.getFeatures().getString()};
  }
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

/// Turns off the backend's two instruction schedulers, before and after
/// register allocation: they were a fifth of native code generation time
/// (iris, the digits MLP), and the kernels gained nothing from them on the
/// out-of-order cores measured (Zen 5, and its code for Haswell: the matmul
/// tiles lay out their loads and FMAs themselves). LLVM asks, as each
/// function is compiled, whether the option was given, so it is given once,
/// for the process; an option its host program set stays as it was.
void withoutMachineSchedulers() {
  for (const char* name : {"enable-misched", "post-RA-scheduler"}) {
    llvm::cl::Option* option = llvm::cl::getRegisteredOptions().lookup(name);
    if (option && option->getNumOccurrences() == 0) option->addOccurrence(1, name, "false");
  }
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
    withoutMachineSchedulers();
  });
}

Jit::Jit(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Jit::~Jit() = default;

Result<std::unique_ptr<Jit>> Jit::create() {
  initializeNativeTarget();
  const Result<TargetCpu>& cpu = targetCpu();
  if (!cpu) return cpu.errors().front();
  auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!jtmb) return fileError("", "cannot target this CPU: " + errorText(jtmb.takeError()));
  if (cpu->chosenByName) {  // that CPU's own features, not the host's
    jtmb->setCPU(cpu->name);
    jtmb->getFeatures() = llvm::SubtargetFeatures();
  }
  jtmb->setCodeGenOptLevel(llvm::CodeGenOptLevel::Default);
  return std::unique_ptr<Jit>(new Jit(std::make_unique<Impl>(Impl{std::move(*jtmb), nullptr, nullptr})));
}

namespace {

void runPipeline(llvm::TargetMachine& tm, llvm::Module& module) {
  module.setDataLayout(tm.createDataLayout());
  module.setTargetTriple(tm.getTargetTriple().str());
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb(&tm);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager mpm;
  llvm::cantFail(pb.parsePassPipeline(mpm, kLeanPipeline));
  mpm.run(module, mam);
}

std::optional<std::string> emitWith(llvm::TargetMachine& tm, llvm::Module& module) {
  llvm::SmallString<16384> bytes;
  llvm::raw_svector_ostream os(bytes);
  llvm::legacy::PassManager pm;
  if (!addCodeGenPasses(tm, pm, os, llvm::CodeGenFileType::ObjectFile)) return std::nullopt;
  pm.run(module);
  return std::string(bytes.str());
}

} // namespace

std::string backendRecipe() {
  bool schedulersOff = true;
  for (const char* name : {"enable-misched", "post-RA-scheduler"}) {
    auto* option = static_cast<llvm::cl::opt<bool>*>(llvm::cl::getRegisteredOptions().lookup(name));
    schedulersOff = schedulersOff && option && option->getNumOccurrences() > 0 && !option->getValue();
  }
  return std::string(kLeanPipeline) + "; backend without LSR" + (schedulersOff ? " or machine schedulers" : "");
}

void Jit::optimize(llvm::Module& module) {
  auto t0 = std::chrono::steady_clock::now();
  runPipeline(impl_->machine(), module);
  optimizeMs = msSince(t0);
}

std::string Jit::assembly(llvm::Module& module) {
  llvm::SmallString<4096> out;
  llvm::raw_svector_ostream os(out);
  llvm::legacy::PassManager pm;
  if (!addCodeGenPasses(impl_->machine(), pm, os, llvm::CodeGenFileType::AssemblyFile)) return "";
  pm.run(module);
  return std::string(out.str());
}

Result<std::string> Jit::emitObject(llvm::Module& module) {
  std::optional<std::string> object = emitWith(impl_->machine(), module);
  if (!object) return fileError("", "JIT: this CPU cannot emit object files");
  return std::move(*object);
}

Status Jit::link(const std::string& object, const std::string& dataLayout, const llvm::Module* module) {
  if (Status started = impl_->startLinker(dataLayout); !started) return started;
  auto buffer = llvm::MemoryBuffer::getMemBufferCopy(object, "nnjit-model.o");
  if (auto err = impl_->jit->addObjectFile(std::move(buffer))) return fileError("", "JIT: " + errorText(std::move(err)));
  if (module && perfMapRequested()) writePerfMap(*module);
  return Ok{};
}

Status Jit::add(llvm::Module& module) {
  auto t0 = std::chrono::steady_clock::now();
  Result<std::string> object = emitObject(module);
  if (!object) return object.errors().front();
  Status linked = link(*object, impl_->dataLayout(), &module);
  codegenMs = msSince(t0);
  return linked;
}

Result<std::vector<bool>> Jit::linkCached(const std::vector<std::string>& codeDigests) {
  std::vector<bool> found;
  for (const std::string& digest : codeDigests) {
    ObjectCache cache(impl_->cacheTarget(), backendRecipe(), ObjectCache::codeSource(digest, generatorBuildId()));
    std::optional<ObjectCache::Entry> entry = cache.load();
    found.push_back(entry.has_value());
    if (!entry) continue;
    if (Status linked = link(entry->object, entry->dataLayout, nullptr); !linked) return linked.errors().front();
  }
  return found;
}

Status Jit::compile(const std::vector<llvm::Module*>& modules, const std::vector<std::string>& codeDigests) {
  auto t0 = std::chrono::steady_clock::now();
  llvm::TargetMachine& host = impl_->machine();
  std::string layout = impl_->dataLayout();
  std::vector<std::unique_ptr<ObjectCache>> caches;
  std::vector<std::optional<std::string>> objects;
  std::vector<size_t> misses;
  for (size_t i = 0; i < modules.size(); ++i) {
    llvm::Module* m = modules[i];
    m->setDataLayout(host.createDataLayout());
    m->setTargetTriple(host.getTargetTriple().str());
    bool byCode = i < codeDigests.size();
    std::string source;  // keying by the IR prints the whole module: not for a cache that is off
    if (byCode) source = ObjectCache::codeSource(codeDigests[i], generatorBuildId());
    else if (ObjectCache::wanted()) source = ObjectCache::irSource(*m);
    caches.push_back(std::make_unique<ObjectCache>(impl_->cacheTarget(), backendRecipe(), source));
    // Keyed by code, the caller has already asked the cache for this module.
    std::optional<ObjectCache::Entry> entry = byCode ? std::nullopt : caches.back()->load();
    objects.push_back(entry ? std::optional(std::move(entry->object)) : std::nullopt);
    if (!objects.back()) misses.push_back(i);
  }
  cacheHit = misses.empty();
  // Each part of the module plan is its own module and context, so LLVM
  // compiles them on as many threads at once (each with its own target machine).
  std::vector<double> passMs(modules.size(), 0);
  auto compileOne = [&](size_t i, llvm::TargetMachine& tm) {
    auto start = std::chrono::steady_clock::now();
    runPipeline(tm, *modules[i]);
    passMs[i] = msSince(start);
    objects[i] = emitWith(tm, *modules[i]);
  };
  std::vector<std::thread> helpers;
  std::vector<std::unique_ptr<llvm::TargetMachine>> machines;
  size_t threads = std::min<size_t>(misses.size(), std::max(1u, std::thread::hardware_concurrency()));
  for (size_t t = 1; t < threads; ++t) {
    auto tm = impl_->builder.createTargetMachine();
    if (!tm) {
      llvm::consumeError(tm.takeError());
      break;
    }
    machines.push_back(std::move(*tm));
  }
  std::atomic<size_t> next{0};
  auto work = [&](llvm::TargetMachine& tm) {
    for (size_t k; (k = next.fetch_add(1)) < misses.size();) compileOne(misses[k], tm);
  };
  for (auto& tm : machines) helpers.emplace_back([&, machine = tm.get()] { work(*machine); });
  work(host);
  for (std::thread& t : helpers) t.join();
  // The report splits the wall time: the slowest module's passes, the rest native code.
  optimizeMs = passMs.empty() ? 0 : *std::max_element(passMs.begin(), passMs.end());
  for (size_t i = 0; i < modules.size(); ++i) {
    if (!objects[i]) return fileError("", "JIT: this CPU cannot emit object files");
    if (std::find(misses.begin(), misses.end(), i) != misses.end()) caches[i]->store({*objects[i], layout});
    Status linked = link(*objects[i], layout, nullptr);
    if (!linked) return linked;
  }
  // Only once every module is linked: a lookup materializes its module, which
  // fails while the kernels it calls in another module are still missing.
  if (perfMapRequested())
    for (llvm::Module* m : modules) writePerfMap(*m);
  codegenMs = msSince(t0) - optimizeMs;
  return Ok{};
}

bool Jit::perfMapRequested() {
  const char* v = std::getenv("NNJIT_PERF_MAP");
  return v && std::string(v) == "1";
}

/// perf's JIT symbol file: one `ADDRESS SIZE NAME` line per function, the
/// size taken as the distance to the next one.
void Jit::writePerfMap(const llvm::Module& module) {
  std::vector<std::pair<uint64_t, std::string>> symbols;
  for (const llvm::Function& f : module) {
    if (f.isDeclaration() || !f.hasExternalLinkage()) continue;
    if (auto sym = impl_->jit->lookup(f.getName())) symbols.emplace_back(sym->getValue(), f.getName().str());
    else llvm::consumeError(sym.takeError());
  }
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
  if (!impl_->jit) return nullptr;  // nothing was linked
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
