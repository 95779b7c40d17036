// TLS instantiation of the WebSocket session (see ws_session.hpp).
#include "transport/ws_session.hpp"

namespace iot::api::transport::detail {

template void StartWsSession<beast::ssl_stream<beast::tcp_stream>>(
    std::shared_ptr<ServerState>, beast::ssl_stream<beast::tcp_stream>&&, std::string,
    std::shared_ptr<stream::Client>, std::shared_ptr<void>, http::request<http::string_body>&&);

}  // namespace iot::api::transport::detail
