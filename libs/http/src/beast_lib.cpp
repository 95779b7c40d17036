// Compiled bodies of Beast and of Asio's SSL layer (BOOST_BEAST_SEPARATE_COMPILATION); the iot_beast
// library's only translation unit. Asio's own bodies live in libs/asio.
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
