// main.cpp — chorus-sim: the deterministic simulator's command line (see sim/cli.hpp).
#include "sim/cli.hpp"

int main(int argc, char** argv) { return chorus::sim::cli_main(argc, argv); }
