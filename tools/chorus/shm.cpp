// shm.cpp — `chorus shm ls` and `chorus shm rm`: the chorus::shm regions of this host.
#include "chorus/shm.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "common.hpp"

namespace chorus::tool {

int run_shm_ls(bool json) {
  auto regions = shm::region::list();
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : regions) {
      out.push_back({{"name", r.name},
                     {"buffers", r.buffers},
                     {"size", r.size},
                     {"ready", r.ready},
                     {"pipes", r.pipes},
                     {"processes", r.processes}});
    }
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }
  if (regions.empty()) {
    std::printf("no chorus::shm regions (/dev/shm/chorus.*)\n");
    return 0;
  }
  std::printf("%-32s %12s %-8s %6s %10s %8s\n", "NAME", "SIZE", "STATE", "PIPES", "PROCESSES",
              "BUFFERS");
  for (const auto& r : regions) {
    std::printf("%-32s %12zu %-8s %6u %10u %8llu\n", r.name.c_str(), r.size,
                r.ready ? "ready" : "creating", r.pipes, r.processes,
                static_cast<unsigned long long>(r.buffers));
  }
  return 0;
}

int run_shm_rm(const std::vector<std::string>& names) {
  int status = 0;
  for (const auto& n : names) {
    if (auto r = shm::region::remove(n); !r) {
      std::fprintf(stderr, "chorus shm rm: %s\n", r.error().message.c_str());
      status = 1;
    }
  }
  return status;
}

}  // namespace chorus::tool
