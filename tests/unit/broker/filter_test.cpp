#include "filter.hpp"

#include <catch2/catch.hpp>

using iot::broker::FilterCovers;
using iot::broker::StripSharePrefix;

TEST_CASE("Filter: a pattern covers the topics and filters inside it", "[broker][filter]") {
  CHECK(FilterCovers("/sys/+/+/thing/#", "/sys/pk/dn/thing/event/property/post"));
  CHECK(FilterCovers("/sys/+/+/thing/#", "/sys/+/+/thing/event/+/post"));
  CHECK(FilterCovers("/sys/+/+/thing/#", "/sys/+/+/thing/#"));
  CHECK(FilterCovers("/sys/+/+/rrpc/response/+", "/sys/a/b/rrpc/response/123"));
  CHECK(FilterCovers("a/#", "a"));  // MQTT: `a/#` also matches `a`
}

TEST_CASE("Filter: a pattern does not cover wider filters", "[broker][filter]") {
  CHECK_FALSE(FilterCovers("/sys/+/+/thing/#", "#"));
  CHECK_FALSE(FilterCovers("/sys/+/+/thing/#", "/sys/#"));
  CHECK_FALSE(FilterCovers("/sys/+/+/thing/#", "/sys/+/+/+/#"));
  CHECK_FALSE(FilterCovers("/sys/+/+/rrpc/response/+", "/sys/a/b/rrpc/response/#"));
  CHECK_FALSE(FilterCovers("/sys/+/+/rrpc/response/+", "/sys/a/b/rrpc/response/1/2"));
  CHECK_FALSE(FilterCovers("/as/mqtt/status/+/+", "/as/mqtt/status/a"));
  CHECK_FALSE(FilterCovers("x", ""));
}

TEST_CASE("Filter: shared-subscription prefixes are stripped, malformed ones refused", "[broker][filter]") {
  CHECK(StripSharePrefix("$share/gw//sys/+/+/thing/#") == "/sys/+/+/thing/#");
  CHECK(StripSharePrefix("/sys/a") == "/sys/a");
  CHECK(StripSharePrefix("$share//x").empty());
  CHECK(StripSharePrefix("$share/gw").empty());
  CHECK(StripSharePrefix("$share/g+/x").empty());
}
