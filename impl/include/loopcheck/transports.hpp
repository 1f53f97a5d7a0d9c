// Transports (asyncio.transports): the abstract interfaces every concrete transport
// (read pipe, write pipe, subprocess, Unix socket) implements, with CPython's names.
//
// Transports are shared: the loop keeps one alive while its fd is registered, the caller
// keeps the one connect_*() hands back. A transport destroyed while not closed warns
// ("unclosed transport ...") as CPython's __del__ does.
#pragma once

#include <any>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "loopcheck/protocols.hpp"

namespace loopcheck {

// constants._SendfileMode: what loop.sendfile may do with a transport (its
// _sendfile_compatible attribute).
enum class SendfileMode { Unsupported, TryNative, Fallback };

class BaseTransport {
 public:
  virtual ~BaseTransport() = default;
  // _sendfile_compatible; CPython's getattr default is UNSUPPORTED.
  virtual SendfileMode sendfile_compatible() const { return SendfileMode::Unsupported; }
  // get_extra_info(name): an empty std::any where CPython returns the default (None).
  // Values by name: "pipe" and "socket" hold the fd (int); "sockname"/"peername" a
  // std::string address.
  virtual std::any get_extra_info(std::string_view name) const = 0;
  virtual bool is_closing() const = 0;
  virtual void close() = 0;
  virtual void set_protocol(std::shared_ptr<BaseProtocol> protocol) = 0;
  virtual std::shared_ptr<BaseProtocol> get_protocol() const = 0;
  // repr(transport), e.g. `<_UnixReadPipeTransport fd=7 polling>`.
  virtual std::string repr() const = 0;
};

class ReadTransport : public virtual BaseTransport {
 public:
  virtual bool is_reading() const = 0;
  virtual void pause_reading() = 0;
  virtual void resume_reading() = 0;
};

class WriteTransport : public virtual BaseTransport {
 public:
  // set_write_buffer_limits(high=None, low=None): nullopt is CPython's None.
  virtual void set_write_buffer_limits(std::optional<std::size_t> high = std::nullopt,
                                       std::optional<std::size_t> low = std::nullopt) = 0;
  virtual std::size_t get_write_buffer_size() const = 0;
  // (low, high), as CPython returns them.
  virtual std::pair<std::size_t, std::size_t> get_write_buffer_limits() const = 0;
  virtual void write(std::span<const std::byte> data) = 0;
  // CPython joins the pieces and makes one write() of them.
  virtual void writelines(const std::vector<std::span<const std::byte>>& list) {
    std::vector<std::byte> joined;
    for (auto data : list) joined.insert(joined.end(), data.begin(), data.end());
    write(joined);
  }
  virtual void write_eof() = 0;
  virtual bool can_write_eof() const = 0;
  virtual void abort() = 0;
};

class Transport : public ReadTransport, public WriteTransport {};

}  // namespace loopcheck
