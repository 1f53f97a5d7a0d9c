// Protocols (asyncio.protocols): the callbacks a transport makes into user code.
//
// Every method has CPython's default, which does nothing (eof_received returns false: close
// the transport). An exception thrown from a protocol method propagates the way CPython's
// does: into the callback that made the call, so the loop reports it through its exception
// handler unless the transport says otherwise.
#pragma once

#include <cxxabi.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <span>
#include <string>
#include <typeinfo>

namespace loopcheck {

class BaseTransport;

class BaseProtocol {
 public:
  virtual ~BaseProtocol() = default;
  virtual void connection_made(BaseTransport& /*transport*/) {}
  // `exc` is null on a regular EOF or close().
  virtual void connection_lost(std::exception_ptr /*exc*/) {}
  virtual void pause_writing() {}
  virtual void resume_writing() {}
  // repr(protocol), as a transport's log records and exception contexts print it. The
  // default is Python's object repr: `<TypeName object at 0x...>`.
  virtual std::string repr() const {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> name(abi::__cxa_demangle(typeid(*this).name(), nullptr, nullptr, &status),
                                                std::free);
    char address[32];
    std::snprintf(address, sizeof address, "%p", static_cast<const void*>(this));
    return std::string("<") + (status == 0 && name ? name.get() : typeid(*this).name()) + " object at " + address + ">";
  }
};

class Protocol : public BaseProtocol {
 public:
  virtual void data_received(std::span<const std::byte> /*data*/) {}
  // true keeps the transport open (half-closed); false closes it.
  virtual bool eof_received() { return false; }
};

class SubprocessProtocol : public BaseProtocol {
 public:
  virtual void pipe_data_received(int /*fd*/, std::span<const std::byte> /*data*/) {}
  virtual void pipe_connection_lost(int /*fd*/, std::exception_ptr /*exc*/) {}
  virtual void process_exited() {}
};

}  // namespace loopcheck
