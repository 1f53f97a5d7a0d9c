// How byte strings appear in a trace: `COUNT "literal"` for short printable data, else
// `COUNT sha256:<first 16 hex digits>` (INTERPRETING.md, section 4).
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace loopcheck::ref {

// The two trace arguments for `data`: its length and its literal text or digest.
nlohmann::json data_args(std::string_view data);
// SHA-256 of `data` as 64 lowercase hex digits.
std::string sha256_hex(std::string_view data);
// The scenario payload of N bytes: 'a'..'z' repeated (the child's `write N` uses the same).
std::string pattern(std::size_t n);

}  // namespace loopcheck::ref
