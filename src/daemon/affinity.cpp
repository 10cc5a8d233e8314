// affinity.cpp — see affinity.hpp.
#include "daemon/affinity.hpp"

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "daemon/config_file.hpp"

namespace chorus::daemon {

std::vector<std::uint32_t> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<std::uint32_t> cpus;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (std::uint32_t cpu = 0; cpu < cpus_max && cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

util::status pin_to(const std::vector<std::uint32_t>& cpus) {
  const std::vector<std::uint32_t> usable = allowed_cpus();
  std::vector<std::uint32_t> refused;
  cpu_set_t want;
  CPU_ZERO(&want);
  for (auto cpu : cpus) {
    if (std::ranges::binary_search(usable, cpu)) {
      CPU_SET(cpu, &want);
    } else {
      refused.push_back(cpu);
    }
  }
  if (!refused.empty()) {
    return util::status(util::errc::invalid_argument,
                        "CPU " + format_cpu_list(refused) +
                            " is not available to this process (it may run on " +
                            format_cpu_list(usable) + ")");
  }
  if (sched_setaffinity(0, sizeof want, &want) != 0) {
    return util::status(util::errc::invalid_argument,
                        "cannot run on CPU " + format_cpu_list(cpus) + ": " + std::strerror(errno));
  }
  return {};
}

}  // namespace chorus::daemon
