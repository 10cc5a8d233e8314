// affinity.hpp — which CPUs chorusd runs on (`CpuAffinity`, `--cpu-affinity`): the set the
// process may use now, and pinning the process to a list of them. The lists are the ones
// daemon::parse_cpu_list() reads and format_cpu_list() writes (config_file.hpp).
// Thread-safety: the calls act on the whole process; make them before starting threads.
#pragma once

#include <cstdint>
#include <vector>

#include "util/result.hpp"

namespace chorus::daemon {

// The CPUs this process may run on now (its affinity: CpuAffinity, taskset, cgroups),
// ascending; empty if the kernel does not say.
std::vector<std::uint32_t> allowed_cpus();

// Runs this process (and every thread it starts later) on `cpus` only. Each must be one it may
// use now; otherwise nothing changes and the error names the refused CPUs and the usable ones.
util::status pin_to(const std::vector<std::uint32_t>& cpus);

}  // namespace chorus::daemon
