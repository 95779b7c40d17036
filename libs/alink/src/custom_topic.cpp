#include "iot/alink/custom_topic.hpp"

#include "iot/alink/topic.hpp"
#include "iot/common/base64.hpp"
#include "iot/common/safe_text.hpp"

namespace iot::alink {
namespace {

bool SuffixChar(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == '.';
}

std::string_view WithoutLeadingSlash(std::string_view topic) {
  if (!topic.empty() && topic.front() == '/') {
    topic.remove_prefix(1);
  }
  return topic;
}

}  // namespace

std::optional<std::string> SuffixProblem(std::string_view suffix) {
  if (suffix.empty()) {
    return "the topic suffix is empty";
  }
  if (suffix.size() > kMaxSuffixBytes) {
    return "the topic suffix is longer than " + std::to_string(kMaxSuffixBytes) + " bytes";
  }
  std::size_t levels = 0;
  TopicLevels walk(suffix);
  std::string_view level;
  while (walk.Next(level)) {
    ++levels;
    if (level.empty()) {
      return "the topic has an empty level (a leading, trailing or doubled '/')";
    }
    if (level == "." || level == "..") {
      return "the topic has a '.' or '..' level";
    }
    for (const char c : level) {
      if (c == '+' || c == '#') {
        return "wildcards ('+', '#') are not allowed in a topic to publish to";
      }
      if (!SuffixChar(c)) {
        return "the topic may only contain letters, digits, '_', '-', '.' and '/'";
      }
    }
  }
  if (levels > kMaxSuffixLevels) {
    return "the topic suffix has more than " + std::to_string(kMaxSuffixLevels) + " levels";
  }
  return std::nullopt;
}

TopicOrProblem DeviceUserTopic(std::string_view pk, std::string_view dn, std::string_view topic) {
  const std::string full_prefix = "/" + std::string(pk) + "/" + std::string(dn) + "/user/";
  std::string_view suffix;
  if (topic.starts_with("user/")) {
    suffix = topic.substr(5);
  } else if (topic.starts_with(full_prefix)) {
    suffix = topic.substr(full_prefix.size());
  } else {
    return {{}, "the topic must be user/<suffix> (the device's own custom topics, " + full_prefix + "...)"};
  }
  if (auto problem = SuffixProblem(suffix)) {
    return {{}, *problem};
  }
  return {full_prefix + std::string(suffix), {}};
}

TopicOrProblem BroadcastTopic(std::string_view pk, std::string_view suffix) {
  const std::string prefix = "/broadcast/" + std::string(pk) + "/";
  if (suffix.starts_with(prefix)) {
    suffix.remove_prefix(prefix.size());
  }
  if (auto problem = SuffixProblem(suffix)) {
    return {{}, *problem};
  }
  return {prefix + std::string(suffix), {}};
}

std::string ExtRrpcTopic(std::string_view message_id, std::string_view inner_topic) {
  std::string out = "/ext/rrpc/";
  out += message_id;
  out += '/';
  out += WithoutLeadingSlash(inner_topic);
  return out;
}

std::string RrpcReplyTopic(std::string_view pk, std::string_view dn, std::string_view ext_rrpc_topic) {
  constexpr std::string_view kExt = "/ext/rrpc/";
  std::string_view rest = ext_rrpc_topic.starts_with(kExt) ? ext_rrpc_topic.substr(kExt.size()) : "";
  std::string out(kRrpcReplyPrefix);
  out += pk;
  out += '/';
  out += dn;
  out += '/';
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos) {
    out += rest;
    return out;
  }
  out += rest.substr(0, slash);  // the message id
  out += '/';
  out += WithoutLeadingSlash(rest.substr(slash + 1));
  return out;
}

PayloadOrProblem DecodePayload(std::string_view encoding, std::string_view text) {
  if (encoding.empty() || encoding == "text") {
    return {std::string(text), {}};
  }
  if (encoding == "base64") {
    auto bytes = Base64Decode(text);
    if (!bytes) {
      return {{}, "payload is not valid base64 (standard alphabet, '=' padding, no whitespace)"};
    }
    return {std::move(*bytes), {}};
  }
  return {{}, "encoding must be \"text\" or \"base64\""};
}

EncodedPayload EncodePayload(std::string_view bytes) {
  bool text = IsValidUtf8(bytes);
  for (std::size_t i = 0; text && i < bytes.size(); ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f) {
      text = false;
    }
  }
  if (text) {
    return {"text", std::string(bytes)};
  }
  return {"base64", Base64Encode(bytes)};
}

std::optional<RrpcReply> ParseRrpcReplyTopic(std::string_view topic) {
  if (!topic.starts_with(kRrpcReplyPrefix)) {
    return std::nullopt;
  }
  TopicLevels levels(topic.substr(kRrpcReplyPrefix.size()));
  std::string_view pk;
  std::string_view dn;
  std::string_view id;
  if (!levels.Next(pk) || !levels.Next(dn) || !levels.Next(id) || levels.Done() || levels.Rest().empty() ||
      !IsValidProductKey(pk) || !IsValidDeviceName(dn) || !IsValidMessageId(id)) {
    return std::nullopt;
  }
  return RrpcReply{std::string(pk), std::string(dn), std::string(id), std::string(levels.Rest())};
}

}  // namespace iot::alink
