#include "http/request.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <stdexcept>

#include "iot/common/hex.hpp"

namespace iot::api {

std::string_view Request::Header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) {
      return value;
    }
  }
  return {};
}

const std::string& Request::Param(std::string_view name) const {
  auto it = params.find(name);
  if (it == params.end()) {
    // A handler asked for a name its own pattern does not declare: a programming error.
    throw std::logic_error("no path parameter " + std::string(name) + " in route " + route);
  }
  return it->second;
}

std::optional<std::string_view> Request::Query(std::string_view name) const {
  auto it = query.find(std::string(name));
  if (it == query.end()) {
    return std::nullopt;
  }
  return std::string_view(it->second);
}

// ---------------------------------------------------------------------------------------------------

struct Respond::State {
  explicit State(Sink s) : sink(std::move(s)) {}
  ~State() {
    if (!done.exchange(true) && sink) {
      // Every copy is gone and nobody answered: answer for the handler rather than leak the request.
      Response response;
      response.status = 500;
      response.content_type = "application/problem+json";
      response.body = R"({"type":"about:blank","title":"Internal Server Error","status":500,)"
                      R"("detail":"the request was dropped without an answer","errors":[]})";
      try {
        sink(std::move(response));
      } catch (...) {  // a destructor must not throw
      }
    }
  }
  Sink sink;
  std::atomic<bool> done{false};
};

Respond::Respond(Sink sink) : state_(std::make_shared<State>(std::move(sink))) {}

void Respond::operator()(Response&& response) const {
  if (state_ && !state_->done.exchange(true)) {
    state_->sink(std::move(response));
  }
}

Respond Respond::Then(std::function<void(const Response&)> observer) const {
  auto inner = state_;
  return Respond([inner, observer = std::move(observer)](Response&& response) {
    observer(response);
    if (inner && !inner->done.exchange(true)) {
      inner->sink(std::move(response));
    }
  });
}

// ---------------------------------------------------------------------------------------------------

namespace {

bool HasControlBytes(std::string_view text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) {
        return std::nullopt;
      }
      int hi = HexValue(text[i + 1]);
      int lo = HexValue(text[i + 2]);
      if (hi < 0 || lo < 0) {
        return std::nullopt;
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Hand-written on purpose, not Boost.URL (Debian 12's Boost 1.81 has it): its origin-form grammar is RFC
// 3986's, which refuses bytes Beast's request parser lets through and clients send today (raw | { } "
// ^ ` \ and UTF-8 in paths and queries, a #fragment: parse_origin_form answers "leftover" for each), so
// every such request would turn from an answer into a 400, a change of the REST contract. What is
// needed here (split, percent-decode, '+' as a space in the query, refuse control bytes and dot
// segments) is this one loop. request_test.cpp pins the behaviour.
std::optional<std::string> ParseTarget(Request& request) {
  std::string_view target = request.target;
  if (target.empty() || target.front() != '/') {
    return "request target must be an absolute path";
  }
  const auto qmark = target.find('?');
  std::string_view raw_path = target.substr(0, qmark);
  std::string_view raw_query = qmark == std::string_view::npos ? "" : target.substr(qmark + 1);
  if (auto hash = raw_query.find('#'); hash != std::string_view::npos) {
    raw_query = raw_query.substr(0, hash);
  }

  request.segments.clear();
  request.path.clear();
  // "/a/b/" has segments "a","b",""; "/" has none. An empty last segment never matches a route.
  std::string_view rest = raw_path.substr(1);
  while (!rest.empty() || !request.segments.empty()) {
    const auto slash = rest.find('/');
    auto decoded = PercentDecode(rest.substr(0, slash));
    if (!decoded) {
      return "malformed percent-encoding in path";
    }
    if (HasControlBytes(*decoded)) {
      return "path contains NUL or control characters";
    }
    if (*decoded == "." || *decoded == "..") {
      return "path must not contain '.' or '..' segments";
    }
    request.segments.push_back(std::move(*decoded));
    if (slash == std::string_view::npos) {
      break;
    }
    rest = rest.substr(slash + 1);  // "/a/" ends with an empty segment, which never matches a route
  }
  for (const auto& segment : request.segments) {
    request.path += '/';
    request.path += segment;
  }
  if (request.path.empty()) {
    request.path.push_back('/');  // not = "/": GCC 12 -Wrestrict false positive at -O3
  }

  request.query.clear();
  while (!raw_query.empty()) {
    const auto amp = raw_query.find('&');
    std::string_view pair = raw_query.substr(0, amp);
    raw_query = amp == std::string_view::npos ? "" : raw_query.substr(amp + 1);
    if (pair.empty()) {
      continue;
    }
    const auto eq = pair.find('=');
    auto name = PercentDecode(pair.substr(0, eq), true);
    auto value = PercentDecode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
    if (!name || !value) {
      return "malformed percent-encoding in query";
    }
    if (HasControlBytes(*name) || HasControlBytes(*value)) {
      return "query contains NUL or control characters";
    }
    request.query.emplace(std::move(*name), std::move(*value));
  }
  return std::nullopt;
}

std::string RedactedTarget(std::string_view target) {
  const auto qmark = target.find('?');
  if (qmark == std::string_view::npos) {
    return std::string(target);
  }
  std::string out(target.substr(0, qmark + 1));
  std::string_view query = target.substr(qmark + 1);
  bool first = true;
  while (true) {
    const auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    if (!first) {
      out += '&';
    }
    first = false;
    const auto eq = pair.find('=');
    auto name = PercentDecode(pair.substr(0, eq), true);
    if (name && (*name == "token" || *name == "access_token")) {
      out.append(pair.substr(0, eq));
      out += "=REDACTED";
    } else {
      out.append(pair);
    }
    if (amp == std::string_view::npos) {
      break;
    }
    query = query.substr(amp + 1);
  }
  return out;
}

namespace {

struct IpBytes {
  std::array<unsigned char, 16> bytes{};
  int bits = 0;  // 32 (IPv4), 128 (IPv6), 0: not an address
};

IpBytes ParseIp(std::string_view text) {
  IpBytes ip;
  const std::string z(text);
  if (inet_pton(AF_INET, z.c_str(), ip.bytes.data()) == 1) {
    ip.bits = 32;
  } else if (inet_pton(AF_INET6, z.c_str(), ip.bytes.data()) == 1) {
    ip.bits = 128;
  }
  return ip;
}

// An entry as (network, prefix length); bits 0 when the entry is not valid.
std::pair<IpBytes, int> ParseEntry(std::string_view entry) {
  const auto slash = entry.find('/');
  IpBytes network = ParseIp(entry.substr(0, slash));
  int prefix = network.bits;
  if (network.bits != 0 && slash != std::string_view::npos) {
    const auto digits = entry.substr(slash + 1);
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty() || prefix < 0 ||
        prefix > network.bits) {
      network.bits = 0;
    }
  }
  return {network, prefix};
}

}  // namespace

bool ValidProxyEntry(std::string_view entry) { return ParseEntry(entry).first.bits != 0; }

bool IsTrustedProxy(std::string_view address, const std::vector<std::string>& trusted_proxies) {
  const IpBytes ip = ParseIp(address);
  if (ip.bits == 0) {
    return false;
  }
  for (const auto& entry : trusted_proxies) {
    const auto [network, prefix] = ParseEntry(entry);
    if (network.bits != ip.bits) {
      continue;
    }
    const int whole = prefix / 8, rest = prefix % 8;
    if (!std::equal(ip.bytes.begin(), ip.bytes.begin() + whole, network.bytes.begin())) {
      continue;
    }
    const unsigned mask = rest == 0 ? 0U : (0xFFU << (8 - rest)) & 0xFFU;
    if (rest == 0 || (ip.bytes[whole] & mask) == (network.bytes[whole] & mask)) {
      return true;
    }
  }
  return false;
}

std::string ClientAddress(const Request& request, const std::vector<std::string>& trusted_proxies) {
  std::string_view peer = request.remote_address;
  if (const auto colon = peer.rfind(':'); colon != std::string_view::npos) {
    peer = peer.substr(0, colon);
  }
  auto trusted = [&](std::string_view address) { return IsTrustedProxy(address, trusted_proxies); };
  if (!trusted(peer)) {
    return std::string(peer);
  }
  // Every X-Forwarded-For field, in order, is one list; walk it from the right (the nearest hop).
  std::string list;
  for (const auto& [name, value] : request.headers) {
    if (name == "x-forwarded-for") {
      list += (list.empty() ? "" : ",") + value;
    }
  }
  std::string_view rest = list;
  while (!rest.empty()) {
    const auto comma = rest.rfind(',');
    std::string_view hop = comma == std::string_view::npos ? rest : rest.substr(comma + 1);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
    while (!hop.empty() && (hop.front() == ' ' || hop.front() == '\t')) {
      hop.remove_prefix(1);
    }
    while (!hop.empty() && (hop.back() == ' ' || hop.back() == '\t')) {
      hop.remove_suffix(1);
    }
    if (!hop.empty() && !trusted(hop)) {
      return std::string(hop);
    }
  }
  return std::string(peer);
}

}  // namespace iot::api
