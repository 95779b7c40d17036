// The one translation unit that holds Asio's compiled bodies (see libs/asio/CMakeLists.txt).
#include <boost/asio/impl/src.hpp>
