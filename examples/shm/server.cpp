// server.cpp — boots a chorus::shm application: creates the region and its pipes, produces
// frames into "raw" as shared buffers (written in place: nothing is copied on the way), and
// waits for the client to say how many it got. Run it with shm_middle and shm_client:
//   shm_server [frames] [region] &  shm_middle [region] &  shm_client [region]
#include <chorus/shm.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace std::chrono_literals;
namespace shm = chorus::shm;

int main(int argc, char** argv) {
  const int frames = argc > 1 ? std::atoi(argv[1]) : 1000;
  const std::string name = argc > 2 ? argv[2] : "example";
  auto region = shm::region::create(name, {.size = 16 << 20});
  if (!region) {
    std::fprintf(stderr, "server: %s\n", region.error().message.c_str());
    return 1;
  }
  auto raw = region->create_pipe<shm::buffer>("raw", 64);
  auto cooked = region->create_pipe<shm::buffer>("cooked", 64);
  auto done = region->create_pipe<std::uint64_t>("done", 2);
  if (!raw || !cooked || !done) {
    std::fprintf(stderr, "server: cannot create the pipes\n");
    return 1;
  }
  std::printf("server: region %s ready\n", name.c_str());
  std::fflush(stdout);
  for (int i = 0; i <= frames; ++i) {
    // The last frame is empty: the end of the stream.
    const std::string text = i < frames ? "frame " + std::to_string(i) + " from the server" : "";
    auto b = region->allocate(text.size(), 10s);  // waits while the pool is full
    if (!b) {
      std::fprintf(stderr, "server: %s\n", b.error().message.c_str());
      return 1;
    }
    text.copy(reinterpret_cast<char*>(b->data()), text.size());
    if (auto sent = raw->enqueue(std::move(*b), 10s); !sent) {
      std::fprintf(stderr, "server: %s (is shm_middle running?)\n", sent.error().message.c_str());
      return 1;
    }
  }
  auto got = done->dequeue(30s);
  if (!got) {
    std::fprintf(stderr, "server: no word from the client: %s\n", got.error().message.c_str());
    return 1;
  }
  std::printf("server: the client got %llu of %d frames; buffers still in use: %llu\n",
              static_cast<unsigned long long>(*got), frames,
              static_cast<unsigned long long>(region->stats().buffers_in_use));
  (void)shm::region::remove(name);
  return *got == static_cast<std::uint64_t>(frames) ? 0 : 1;
}
