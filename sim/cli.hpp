// cli.hpp — the chorus-sim command line: one run (`--seed S --nodes N …`) or a swarm of runs
// (`--seeds K`). Lives in the library so tests can check that a printed replay command parses
// back to the options that produced it.
// Thread-safety: parse_command_line is pure; cli_main owns the process (output, exit code,
// an abort handler that prints the replay command).
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sim/options.hpp"

namespace chorus::sim {

struct cli_request {
  options opts;
  std::set<std::string> given;  // names of the run options given explicitly (without "--")
  std::uint64_t seeds = 0;      // > 0: swarm mode over seeds opts.seed … opts.seed + seeds - 1
  bool trace = false;           // print every trace line
  bool verbose = false;         // swarm: one line per seed, passed or not
  bool help = false;            // --help was asked (the text is in `message`)
  std::string message;          // help text or the parse error
};

// Parses `args` (args[0] is the program name). On a parse error returns nullopt and sets
// *error.
std::optional<cli_request> parse_command_line(const std::vector<std::string>& args,
                                              std::string* error);

// The whole program: parse, run, print, return the exit status (0 pass, 1 fail, 2 usage).
int cli_main(int argc, const char* const* argv);

}  // namespace chorus::sim
