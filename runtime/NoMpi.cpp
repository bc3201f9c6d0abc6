// NoMpi: a build without MPI runs as a job of one process.
#include "ProcessGroup.h"

namespace nnjit {

ProcessGroup* mpiWorld() { return nullptr; }
void endJob(int) {}
int processesOnThisMachine() { return 1; }
std::string mpiLibrary() { return ""; }

} // namespace nnjit
