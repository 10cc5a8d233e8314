// hello.cpp — the C++ API in one page: connect, join, multicast, read our message back, leave.
//
//   usage: hello_cpp [endpoint] [group]     (defaults: 4803, i.e. /tmp/4803; group "hello")
//   build: c++ -std=c++20 hello.cpp $(pkg-config --cflags --libs chorus) -o hello_cpp
#include <chorus/client.hpp>
#include <iostream>

int main(int argc, char** argv) {
  std::string endpoint = argc > 1 ? argv[1] : "4803";
  std::string group = argc > 2 ? argv[2] : "hello";

  auto c = chorus::connection::connect({.endpoint = endpoint, .name = ""});
  if (!c) {
    std::cerr << "cannot connect to " << endpoint << ": " << c.error().message << "\n";
    return 1;
  }
  std::cout << "connected as " << c->private_group() << "\n";
  if (auto r = c->join(group); !r) {
    std::cerr << "join: " << r.error().message << "\n";
    return 1;
  }
  if (auto r = c->multicast(chorus::service::agreed, group, "hello from " + c->private_group());
      !r) {
    std::cerr << "multicast: " << r.error().message << "\n";
    return 1;
  }
  for (;;) {
    auto m = c->receive(std::chrono::seconds(10));
    if (!m) {
      std::cerr << "receive: " << m.error().message << "\n";
      return 1;
    }
    if (m->is_regular_membership()) {
      std::cout << "view of " << m->sender() << ": " << m->members().size() << " members\n";
    } else if (m->is_data()) {
      std::cout << m->sender() << ": " << m->text() << "\n";
      if (m->sender() == c->private_group()) break;
    }
  }
  (void)c->leave(group);
  return 0;  // the connection's destructor disconnects
}
