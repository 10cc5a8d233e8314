// listen.cpp — joins a group and prints messages and views (members, vs-sets, why it changed)
// until it has seen `count` messages.
//
//   usage: listen_cpp [endpoint] [group] [count]     (defaults: 4803, "hello", 10)
#include <chorus/client.hpp>
#include <cstdlib>
#include <iostream>

namespace {

const char* why(chorus::cause c) {
  switch (c) {
    case chorus::cause::join: return "join of ";
    case chorus::cause::leave: return "leave of ";
    case chorus::cause::disconnect: return "disconnect of ";
    case chorus::cause::network: return "network change";
    default: return "";
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string endpoint = argc > 1 ? argv[1] : "4803";
  std::string group = argc > 2 ? argv[2] : "hello";
  int count = argc > 3 ? std::atoi(argv[3]) : 10;

  auto c = chorus::connection::connect({.endpoint = endpoint, .name = ""});
  if (!c) {
    std::cerr << "cannot connect to " << endpoint << ": " << c.error().message << "\n";
    return 1;
  }
  if (auto r = c->join(group); !r) {
    std::cerr << "join: " << r.error().message << "\n";
    return 1;
  }
  std::cout << c->private_group() << " listening to " << group << std::endl;
  for (int i = 0; i < count; ++i) {
    auto m = c->receive();
    if (!m) {
      std::cerr << "receive: " << m.error().message << "\n";
      return 1;
    }
    if (m->is_data()) {
      std::cout << m->sender() << ": " << m->text() << "\n";
    } else if (m->is_regular_membership()) {
      std::cout << m->sender() << " now has " << m->members().size() << " members ("
                << why(m->cause()) << m->changed_member() << ")\n";
      for (std::size_t s = 0; s < m->vs_sets().size(); ++s) {
        std::cout << "  " << (s == m->my_vs_set() ? "our" : "other") << " set:";
        for (const auto& name : m->vs_sets()[s]) std::cout << " " << name;
        std::cout << "\n";
      }
    } else if (m->is_transition()) {
      std::cout << m->sender() << ": transitional view\n";
    }
    std::cout.flush();
  }
  return 0;
}
