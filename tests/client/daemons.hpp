// daemons.hpp — real chorusd processes on 127.0.0.x for the client library's tests, the C++
// twin of tests/integration/cluster.py (same port reservation: a flock per 10-port block in
// <tmp>/chorus-integration-ports, so both harnesses and parallel runs never collide).
//
// daemons d(3) writes a spread.conf for d1..d3 (d<i> on 127.0.0.<i>, its own port), starts them,
// and returns once they form one ring (a client on each sees the others in one group view).
// The destructor kills every daemon and removes the temporary directory (kept, with its logs,
// when the test failed or CHORUS_KEEP_TMP is set).
//
// Thread-safety: none; one test thread owns it.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "chorus/client.hpp"

extern char** environ;

namespace chorus::testing {

inline bool port_free(int port) {
  for (int type : {SOCK_STREAM, SOCK_DGRAM}) {
    int fd = ::socket(AF_INET, type, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (!ok) return false;
  }
  return true;
}

class daemons {
 public:
  explicit daemons(int n) : n_(n) {
    char tmpl[] = "/tmp/chorus-client-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    reserve_ports();
    std::ofstream conf(dir_ + "/spread.conf");
    conf << "Spread_Segment 127.0.0.255:" << port(1) << " {\n";
    for (int i = 1; i <= n_; ++i) conf << "  d" << i << " 127.0.0." << i << ":" << port(i) << "\n";
    conf << "}\nRuntimeDir = " << dir_ << "/run-%n\nUnixSocketDir = " << dir_ << "\n";
    conf.close();
    for (int i = 1; i <= n_; ++i) start(i, false);
    for (int i = 1; i <= n_; ++i) wait_ready(i);
    if (n_ > 1) wait_ring();
  }

  ~daemons() {
    for (auto& [i, pid] : pids_) {
      if (pid > 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
      }
    }
    for (int fd : locks_) ::close(fd);
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    bool failed = info != nullptr && info->result()->Failed();
    if (failed || std::getenv("CHORUS_KEEP_TMP") != nullptr) {
      std::fprintf(stderr, "daemons: kept %s\n", dir_.c_str());
    } else {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  int port(int i) const { return base_ + 10 * (i - 1); }
  // The Unix socket of d<i> (the C API accepts a path as spread_name).
  std::string endpoint(int i) const { return dir_ + "/" + std::to_string(port(i)); }
  // "<port>@127.0.0.<i>": TCP, as Spread writes it.
  std::string tcp_endpoint(int i) const {
    return std::to_string(port(i)) + "@127.0.0." + std::to_string(i);
  }
  std::string daemon_name(int i) const { return "d" + std::to_string(i); }
  pid_t pid(int i) const { return pids_.at(i); }

  void start(int i, bool wait = true) {
    std::string binary = CHORUSD_PATH;
    std::string conf = dir_ + "/spread.conf";
    std::string name = daemon_name(i);
    std::string log = dir_ + "/" + name + ".log";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    std::vector<char*> argv{binary.data(), const_cast<char*>("-c"),
                            conf.data(),   const_cast<char*>("-n"),
                            name.data(),   nullptr};
    pid_t pid = 0;
    int rc = ::posix_spawn(&pid, binary.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("cannot start " + binary);
    pids_[i] = pid;
    if (wait) wait_ready(i);
  }

  void kill9(int i) {
    ::kill(pids_.at(i), SIGKILL);
    ::waitpid(pids_.at(i), nullptr, 0);
    pids_[i] = 0;
  }

  void wait_ready(int i) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    struct stat st {};
    while (::stat(endpoint(i).c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) {
      if (std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error("d" + std::to_string(i) + " did not start; see " + dir_);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  // Every daemon's client sees one view of a fresh group with one member per daemon.
  void wait_ring() {
    std::string group = "ring" + std::to_string(std::random_device{}() % 100000);
    std::vector<connection> cs;
    for (int i = 1; i <= n_; ++i) {
      auto c = connection::connect({.endpoint = endpoint(i), .name = "w" + std::to_string(i)});
      if (!c) throw std::runtime_error("ring check: " + c.error().message);
      (void)c->join(group);
      cs.push_back(std::move(*c));
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (auto& c : cs) {
      for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) throw std::runtime_error("no ring of " + std::to_string(n_));
        auto m = c.receive(left);
        if (!m) throw std::runtime_error("ring check: " + m.error().message);
        if (m->is_regular_membership() && m->sender() == group &&
            m->members().size() == static_cast<std::size_t>(n_)) {
          break;
        }
      }
    }
  }

 private:
  void reserve_ports() {
    std::filesystem::path locks =
        std::filesystem::temp_directory_path() / "chorus-integration-ports";
    std::filesystem::create_directories(locks);
    std::mt19937 rng(std::random_device{}());
    for (int attempt = 0; attempt < 500; ++attempt) {
      int base = static_cast<int>(2000 + rng() % (4000 - static_cast<unsigned>(n_))) * 10;
      bool ok = true;
      for (int k = 0; k < n_ && ok; ++k) {
        int fd = ::open((locks / (std::to_string(base / 10 + k) + ".lock")).c_str(),
                        O_CREAT | O_RDWR, 0666);
        if (fd < 0 || ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
          if (fd >= 0) ::close(fd);
          ok = false;
        } else {
          locks_.push_back(fd);
        }
        for (int d = 0; d < 3 && ok; ++d) ok = port_free(base + 10 * k + d);
      }
      if (ok) {
        base_ = base;
        return;
      }
      for (int fd : locks_) ::close(fd);
      locks_.clear();
    }
    throw std::runtime_error("no free block of ports");
  }

  int n_;
  std::string dir_;
  int base_ = 0;
  std::vector<int> locks_;
  std::map<int, pid_t> pids_;
};

}  // namespace chorus::testing
