// TLS instantiation of the session (see http_session.hpp).
#include "transport/http_session.hpp"

namespace iot::api::transport {

void StartTlsSession(tcp::socket&& socket, net::ssl::context& tls, std::shared_ptr<ServerState> state,
                     SessionOptions options) {
  std::make_shared<detail::HttpSession<beast::ssl_stream<beast::tcp_stream>>>(
      std::move(state), std::move(options), std::move(socket), tls)
      ->Start();
}

}  // namespace iot::api::transport
