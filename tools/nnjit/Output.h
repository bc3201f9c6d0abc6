// Output: standard output and error as streams whose failures never stop a run, and are reported once.
#pragma once

namespace nnjit::cli {

/// Replaces `stdout` and `stderr` (glibc lets a program assign them) with
/// streams that write to file descriptors 1 and 2 and never report a failed
/// write to their caller: after the first failure, output is dropped. So a
/// closed pipe (`| head -1`, with SIGPIPE ignored) or a full disk cannot
/// interrupt training or its save, whichever command prints. Call first.
void installCheckedOutput();

/// Flushes standard output. After a failed write, other than to a closed
/// pipe, prints `nnjit: error: cannot write to standard output: REASON` and
/// returns 1 where `status` was 0; a closed pipe is silent (the reader chose
/// to stop reading) and keeps `status`.
int finishOutput(int status);

} // namespace nnjit::cli
