// receive_window_test.cpp — the seq-indexed packet store: aru over holes, duplicates, the
// capacity limit, discarding, and the list of missing seqs.
#include "core/receive_window.hpp"

#include <gtest/gtest.h>

namespace chorus::core {
namespace {

stored_packet packet() { return stored_packet{}; }

TEST(receive_window, aru_advances_only_over_contiguous_packets) {
  receive_window w(8);
  EXPECT_EQ(w.insert(seq_t{2}, packet()), receive_window::insert_result::stored);
  EXPECT_EQ(w.aru(), seq_t{0});
  EXPECT_EQ(w.high(), seq_t{2});
  w.insert(seq_t{1}, packet());
  EXPECT_EQ(w.aru(), seq_t{2});
  w.insert(seq_t{4}, packet());
  EXPECT_EQ(w.aru(), seq_t{2});
  std::vector<seq_t> missing;
  w.missing(seq_t{6}, 10, missing);
  EXPECT_EQ(missing, (std::vector<seq_t>{seq_t{3}, seq_t{5}, seq_t{6}}));
  missing.clear();
  w.missing(seq_t{6}, 1, missing);
  EXPECT_EQ(missing, (std::vector<seq_t>{seq_t{3}}));
}

TEST(receive_window, refuses_duplicates_and_packets_beyond_capacity) {
  receive_window w(4);
  EXPECT_EQ(w.insert(seq_t{1}, packet()), receive_window::insert_result::stored);
  EXPECT_EQ(w.insert(seq_t{1}, packet()), receive_window::insert_result::duplicate);
  EXPECT_EQ(w.insert(seq_t{5}, packet()), receive_window::insert_result::beyond);
  EXPECT_EQ(w.insert(seq_t{4}, packet()), receive_window::insert_result::stored);
  w.discard_upto(seq_t{1});
  EXPECT_EQ(w.insert(seq_t{1}, packet()), receive_window::insert_result::duplicate);
  EXPECT_EQ(w.insert(seq_t{5}, packet()), receive_window::insert_result::stored);
  EXPECT_FALSE(w.holds(seq_t{1}));
  EXPECT_EQ(w.held(), 2u);
}

TEST(receive_window, erase_forgets_only_packets_above_aru) {
  receive_window w(8);
  w.insert(seq_t{1}, packet());
  w.insert(seq_t{3}, packet());
  w.erase(seq_t{1});
  w.erase(seq_t{3});
  EXPECT_TRUE(w.holds(seq_t{1}));
  EXPECT_FALSE(w.holds(seq_t{3}));
}

}  // namespace
}  // namespace chorus::core
