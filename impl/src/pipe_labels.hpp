// How CPython's handles print the pipe transports' callbacks: reprlib's cut of a long repr,
// a class's bare name (__qualname__) and the repr of an optional exception argument. Shared
// by unix_read_pipe_transport.cpp and unix_write_pipe_transport.cpp.
#pragma once

#include <cxxabi.h>

#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <typeinfo>

#include "loopcheck/errors.hpp"

namespace loopcheck::pipe_labels {

// reprlib.repr() of an object whose repr is `text`: at most 30 characters, the middle
// replaced by '...'.
inline std::string reprlib_other(const std::string& text) {
  constexpr std::size_t kMax = 30, kHead = 13, kTail = 14;
  if (text.size() <= kMax) return text;
  return text.substr(0, kHead) + "..." + text.substr(text.size() - kTail);
}

// A class's name without namespaces, as __qualname__ shows it.
inline std::string class_name(const std::type_info& type) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> demangled(abi::__cxa_demangle(type.name(), nullptr, nullptr, &status),
                                                   std::free);
  std::string name = status == 0 && demangled ? demangled.get() : type.name();
  auto colon = name.rfind("::");
  return colon == std::string::npos ? name : name.substr(colon + 2);
}

// reprlib.repr(exc), or None.
inline std::string exception_arg_repr(const std::exception_ptr& exc) {
  return exc ? reprlib_other(exception_repr(exc)) : "None";
}

}  // namespace loopcheck::pipe_labels
