// control_test.cpp — the control socket's pure parts: the JSON writer (escaping, nesting) and
// the request protocol (line parsing, answers and errors). The socket itself is exercised by
// tests/integration/test_control.py.
#include "daemon/control.hpp"

#include <gtest/gtest.h>

#include <string>

namespace chorus::daemon {
namespace {

std::string json_string(std::string_view s) {
  json_writer w;
  w.value(s);
  return w.take();
}

TEST(JsonWriter, NestsWithCommas) {
  json_writer w;
  w.begin_object();
  w.field("a", 1).field("b", "x").field("c", true).key("d").null();
  w.key("e").begin_array().value(std::uint64_t{18446744073709551615u}).value(-3);
  w.begin_object().end_object().begin_array().end_array().end_array();
  w.key("f").begin_object().field("g", false).end_object();
  w.end_object();
  EXPECT_EQ(w.take(), R"({"a":1,"b":"x","c":true,"d":null,"e":[18446744073709551615,-3,{},[]],)"
                      R"("f":{"g":false}})");
}

TEST(JsonWriter, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(json_string("say \"hi\" \\ now"), R"("say \"hi\" \\ now")");
  EXPECT_EQ(json_string("a\nb\rc\td"), R"("a\nb\rc\td")");
  EXPECT_EQ(json_string(std::string("\0\x01\x1f\x7f", 4)), R"("\u0000\u0001\u001f\u007f")");
  EXPECT_EQ(json_string("/ and ' stay"), R"("/ and ' stay")");
}

TEST(JsonWriter, KeepsUtf8AndReplacesWhatIsNotUtf8) {
  EXPECT_EQ(json_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\xb5"),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\xb5\"");
  // A lone continuation byte, a truncated sequence, an overlong '/', a surrogate, > U+10FFFF.
  EXPECT_EQ(json_string("\x80"), R"("\ufffd")");
  EXPECT_EQ(json_string("x\xe2\x82"), R"("x\ufffd\ufffd")");
  EXPECT_EQ(json_string("\xc0\xaf"), R"("\ufffd\ufffd")");
  EXPECT_EQ(json_string("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");
  EXPECT_EQ(json_string("\xf4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");
}

TEST(JsonWriter, EscapesKeys) {
  json_writer w;
  w.begin_object().field("k\"\n", 0).end_object();
  EXPECT_EQ(w.take(), R"({"k\"\n":0})");
}

using st = control_request_parse::state;

TEST(ControlRequest, WaitsForTheLine) {
  EXPECT_EQ(parse_control_request("").st, st::need_more);
  EXPECT_EQ(parse_control_request("stat").st, st::need_more);
  auto p = parse_control_request("status\n");
  EXPECT_EQ(p.st, st::line);
  EXPECT_EQ(p.line, "status");
  p = parse_control_request("status\r\nmore");
  EXPECT_EQ(p.st, st::line);
  EXPECT_EQ(p.line, "status");
}

TEST(ControlRequest, BoundsTheLine) {
  std::string longest(control_request_bytes_max, 'x');
  EXPECT_EQ(parse_control_request(longest).st, st::need_more);
  EXPECT_EQ(parse_control_request(longest + "\r").st, st::need_more);
  EXPECT_EQ(parse_control_request(longest + "\n").st, st::line);
  EXPECT_EQ(parse_control_request(longest + "\r\n").st, st::line);
  EXPECT_EQ(parse_control_request(longest + "xx").st, st::too_long);
  EXPECT_EQ(parse_control_request(longest + "x\n").st, st::too_long);
}

class fake_host : public control_host {
 public:
  void write_status(json_writer& w) const override {
    w.begin_object().field("ok", true).end_object();
  }
};

TEST(ControlAnswer, StatusIsOneJsonLine) {
  fake_host h;
  EXPECT_EQ(control_answer("status", h), "{\"ok\":true}\n");
  EXPECT_EQ(control_answer(" status\r", h), "{\"ok\":true}\n");
}

TEST(ControlAnswer, UnknownRequestsNameTheKnownOnes) {
  fake_host h;
  EXPECT_EQ(control_answer("xyz", h), "{\"error\":\"unknown request 'xyz'; known: status\"}\n");
  EXPECT_EQ(control_answer("", h), "{\"error\":\"unknown request ''; known: status\"}\n");
  EXPECT_EQ(control_answer("a\"\x01\xff", h),
            "{\"error\":\"unknown request 'a\\\"\\u0001\\ufffd'; known: status\"}\n");
}

TEST(ControlAnswer, ErrorLine) {
  EXPECT_EQ(control_error("request longer than 256 bytes"),
            "{\"error\":\"request longer than 256 bytes\"}\n");
}

}  // namespace
}  // namespace chorus::daemon
