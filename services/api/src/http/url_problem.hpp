#pragma once

// Kept out of problem.hpp (which every HTTP translation unit includes): only the download route needs it.
#include "http/problem.hpp"
#include "iot/common/signed_url.hpp"

namespace iot::api {

// The mapping (in problem.cpp, with every other) of a refused signed download link: a missing, malformed
// or wrong signature 403, a correctly signed but expired link 410 (the device asks for a fresh one).
ApiError FromUrlCheck(UrlCheck check);

}  // namespace iot::api
