#include "metrics.hpp"

#include <catch2/catch.hpp>

TEST_CASE("Metrics: Prometheus text with labels and histograms", "[gateway][metrics]") {
  iot::gateway::Metrics m;
  m.messages_in.Add("property_post", 3);
  m.replies.Add("200");
  m.items_refused.Add("6306", 2);
  m.batch_size.Observe(10);
  m.commit_seconds.Observe(0.002);
  m.queue_depth = [] { return std::size_t{7}; };
  const std::string text = m.Render();
  CHECK(text.find("iot_gateway_messages_in_total{kind=\"property_post\"} 3\n") != std::string::npos);
  CHECK(text.find("iot_gateway_items_refused_total{code=\"6306\"} 2\n") != std::string::npos);
  CHECK(text.find("iot_gateway_batch_size_bucket{le=\"16\"} 1\n") != std::string::npos);
  CHECK(text.find("iot_gateway_batch_size_bucket{le=\"4\"} 0\n") != std::string::npos);
  CHECK(text.find("iot_gateway_commit_seconds_count 1\n") != std::string::npos);
  CHECK(text.find("iot_gateway_queue_depth 7\n") != std::string::npos);
  CHECK(text.find("iot_gateway_commit_seconds_sum 0.002\n") != std::string::npos);
}

TEST_CASE("Metrics: label values are escaped", "[gateway][metrics]") {
  iot::gateway::Metrics m;
  m.messages_in.Add("a\"b\\c\nd");
  const std::string text = m.Render();
  CHECK(text.find("iot_gateway_messages_in_total{kind=\"a\\\"b\\\\c\\nd\"} 1\n") != std::string::npos);
}
