// Python's repr() for the few value kinds the loop prints: strings, ints, floats, bools.
// Log records and exception-handler contexts show values the way CPython's `%r` does.
#pragma once

#include <concepts>
#include <string>
#include <string_view>

namespace loopcheck {

// repr(str): single quotes unless the text holds a ' and no ", escapes like CPython for
// ASCII (\\, \n, \r, \t, \xNN for other control bytes). Non-ASCII bytes are copied as-is.
std::string py_repr(std::string_view s);
inline std::string py_repr(const std::string& s) { return py_repr(std::string_view(s)); }
inline std::string py_repr(const char* s) { return py_repr(std::string_view(s)); }
// repr(float): shortest round-trip digits, exponent form when exp < -4 or exp >= 16
// (1e-05, 1e+16), `inf`, `-inf`, `nan`, and a trailing `.0` on integral values.
std::string py_repr(double v);
// repr(bool): True / False.
std::string py_repr(bool v);
// repr(int).
template <std::integral I>
  requires(!std::same_as<I, bool> && !std::same_as<I, char>)
std::string py_repr(I v) {
  return std::to_string(v);
}

// True when py_repr(const T&) is declared (used by Future<T>::repr()).
template <class T>
concept PyReprable = requires(const T& v) {
  { py_repr(v) } -> std::convertible_to<std::string>;
};

}  // namespace loopcheck
