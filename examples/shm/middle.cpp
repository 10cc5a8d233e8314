// middle.cpp — a transformer between two processes: reads frames from "raw", upper-cases them in
// place (the same shared memory the server wrote) and passes them on to "cooked".
//   shm_middle [region]
#include <cctype>
#include <chorus/shm.hpp>
#include <cstdio>
#include <string>

using namespace std::chrono_literals;
namespace shm = chorus::shm;

int main(int argc, char** argv) {
  const std::string name = argc > 1 ? argv[1] : "example";
  auto region = shm::region::open(name, 10s);  // waits for the server to create it
  if (!region) {
    std::fprintf(stderr, "middle: %s\n", region.error().message.c_str());
    return 1;
  }
  auto raw = region->open_pipe<shm::buffer>("raw", 10s);
  auto cooked = region->open_pipe<shm::buffer>("cooked", 10s);
  if (!raw || !cooked) {
    std::fprintf(stderr, "middle: the server's pipes are missing\n");
    return 1;
  }
  bool end = false;
  shm::transformer upper(std::move(*raw), std::move(*cooked), [&](shm::buffer b) {
    end = b.size() == 0;
    for (std::size_t i = 0; i < b.size(); ++i) {
      b.data()[i] = static_cast<std::byte>(std::toupper(static_cast<int>(b.data()[i])));
    }
    return b;
  });
  while (!end) {
    if (auto step = upper.step(10s); !step) {
      std::fprintf(stderr, "middle: %s\n", step.error().message.c_str());
      return 1;
    }
  }
  std::printf("middle: %llu frames transformed\n",
              static_cast<unsigned long long>(upper.transformed() - 1));
  return 0;
}
