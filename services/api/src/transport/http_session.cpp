// Plain-TCP instantiation of the session (see http_session.hpp).
#include "transport/http_session.hpp"

namespace iot::api::transport {

void StartPlainSession(tcp::socket&& socket, std::shared_ptr<ServerState> state, SessionOptions options) {
  std::make_shared<detail::HttpSession<beast::tcp_stream>>(std::move(state), std::move(options),
                                                           std::move(socket))
      ->Start();
}

}  // namespace iot::api::transport
