// client.cpp — reads the transformed frames from "cooked", checks them, and tells the server how
// many it got.
//   shm_client [region]
#include <chorus/shm.hpp>
#include <cstdio>
#include <string>

using namespace std::chrono_literals;
namespace shm = chorus::shm;

int main(int argc, char** argv) {
  const std::string name = argc > 1 ? argv[1] : "example";
  auto region = shm::region::open(name, 10s);
  if (!region) {
    std::fprintf(stderr, "client: %s\n", region.error().message.c_str());
    return 1;
  }
  auto cooked = region->open_pipe<shm::buffer>("cooked", 10s);
  auto done = region->open_pipe<std::uint64_t>("done", 10s);
  if (!cooked || !done) {
    std::fprintf(stderr, "client: the server's pipes are missing\n");
    return 1;
  }
  std::uint64_t frames = 0;
  for (;;) {
    auto b = cooked->dequeue(10s);
    if (!b) {
      std::fprintf(stderr, "client: %s\n", b.error().message.c_str());
      return 1;
    }
    if (b->size() == 0) break;  // the end
    const std::string text(reinterpret_cast<const char*>(b->data()), b->size());
    if (text != "FRAME " + std::to_string(frames) + " FROM THE SERVER") {
      std::fprintf(stderr, "client: unexpected frame '%s'\n", text.c_str());
      return 1;
    }
    if (frames < 3) std::printf("client: %s\n", text.c_str());
    ++frames;
  }  // each buffer goes back to the pool when `b` goes
  std::printf("client: %llu frames\n", static_cast<unsigned long long>(frames));
  return done->enqueue(frames, 10s) ? 0 : 1;
}
