// Read pipe steps (connect_read_pipe, received, pty) and the `NAME.METHOD` steps every
// transport kind shares (conformance/drivers/python/steps_transports.py): the runner keeps
// transports by name as BaseTransport and dispatches a method by the interface that has it
// (BaseTransport, ReadTransport, WriteTransport).
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <any>

#include "data.hpp"
#include "loopcheck/errors.hpp"
#include "loopcheck/unix_read_pipe_transport.hpp"
#include "loopcheck/unix_write_pipe_transport.hpp"
#include "runner.hpp"

namespace loopcheck::ref {
namespace {

template <class T>
std::shared_ptr<BaseTransport> share_as(BaseTransport& t) {
  auto* concrete = dynamic_cast<T*>(&t);
  return concrete ? std::shared_ptr<BaseTransport>(concrete->shared_from_this()) : nullptr;
}

// The owning pointer of a transport a protocol call hands over by reference (every concrete
// transport is enable_shared_from_this).
std::shared_ptr<BaseTransport> share(BaseTransport& t) {
  if (auto p = share_as<UnixReadPipeTransport>(t)) return p;
  if (auto p = share_as<UnixWritePipeTransport>(t)) return p;
  return nullptr;
}

// A scenario payload: N pattern bytes, or a quoted text's bytes.
std::string payload(const Step& s, const nlohmann::json& v) {
  if (v.is_number_integer()) return pattern(v.get<std::size_t>());
  if (v.is_object() && v.contains("str")) return v["str"].get<std::string>();
  throw StepError("line " + std::to_string(s.line) + ": expected a byte count or a quoted text");
}

std::span<const std::byte> bytes_of(const std::string& data) {
  return {reinterpret_cast<const std::byte*>(data.data()), data.size()};
}

// An optional size keyword (`high=`/`low=`); null or absent is Python's None.
std::optional<std::size_t> size_kw(const Step& s, const char* key) {
  if (!s.kw.contains(key) || s.kw[key].is_null()) return std::nullopt;
  if (!s.kw[key].is_number_integer() || s.kw[key].get<long long>() < 0)
    throw Unsupported(std::string(key) + "= takes a size_t in C++; " + s.kw[key].dump() + " has no counterpart");
  return s.kw[key].get<std::size_t>();
}

// write's kind=: C++ has only contiguous bytes, so the other kinds cannot be passed at all.
void check_write_kind(const Step& s) {
  std::string kind = s.kw.contains("kind") ? text_value(s.kw["kind"]) : "bytes";
  if (kind == "str" || kind == "int")
    throw Unsupported("WriteTransport::write takes std::span<const std::byte>; a " + kind +
                      " argument cannot be passed, so CPython's AssertionError for non-bytes data has no counterpart");
  if (kind == "strided")
    throw Unsupported("WriteTransport::write takes a contiguous std::span<const std::byte>; a non-contiguous "
                      "memoryview (os.write's BufferError, a non-OSError write failure) cannot be passed");
  if (kind != "bytes") throw StepError("line " + std::to_string(s.line) + ": unknown write kind=" + kind);
}

}  // namespace

std::shared_ptr<RecordingProtocol> Runner::make_protocol(const std::string& name, RecordingProtocol::Options options) {
  RecordingProtocol::Events events{
      [this](const std::string& target, nlohmann::json args) {
        rec_.event(target, std::move(args));
        run_actions(target);
      },
      [this](const std::string& target) { return actions_.count(target) > 0; }};
  auto protocol = std::make_shared<RecordingProtocol>(name, std::move(events), std::move(options));
  protocols_[name] = protocol;
  return protocol;
}

// Symbolic fd names (INTERPRETING.md 4): tells the recorder each name bound to an fd since
// the last step, so the name bound last to a number wins, as in the Python driver.
void Runner::sync_fd_names() {
  for (const auto& [name, number] : fds_) {
    auto it = fd_names_bound_.find(name);
    if (it != fd_names_bound_.end() && it->second == number) continue;
    fd_names_bound_[name] = number;
    rec_.bind_fd(number, name);
  }
}

void Runner::flush_protocols() {
  for (auto& [name, protocol] : protocols_) protocol->flush();
  for (auto& [name, protocol] : subprocess_protocols_) protocol->flush();
}

// connect_read_pipe T FD [eof_received=true]: T is bound at connection_made (so `on
// T.connection_made` actions can use it); T's data is reported per chunk when `on
// T.data_received` actions exist.
void Runner::connect_read_pipe(const Step& s) {
  std::string name = s.name(0, "a transport name");
  int f = fd(s, 1);
  RecordingProtocol::Options options;
  options.eof_result = s.kw.contains("eof_received") && s.kw["eof_received"].is_boolean() &&
                       s.kw["eof_received"].get<bool>();
  options.chunk_when_watched = true;
  options.on_connection_made = [this, name](BaseTransport& t) {
    if (auto shared = share(t)) transports_[name] = shared;
  };
  auto protocol = make_protocol(name, std::move(options));
  auto future = loop_.connect_read_pipe([protocol] { return protocol; }, f);
  if (loop_.is_running()) {  // inside a callback: bind the name when it completes
    int line = s.line;
    std::string op = s.op;
    future.add_done_callback([this, name, line, op](const auto& done) {
      int saved = std::exchange(rec_.current_line, line);
      try {
        transports_[name] = done.result().first;
      } catch (...) {
        rec_.raised(op, std::current_exception());
      }
      rec_.current_line = saved;
    });
    return;
  }
  std::shared_ptr<UnixReadPipeTransport> transport;
  if (with_deadline([&] { transport = loop_.run_until_complete(future).first; }, deadline(s))) {
    rec_.event("timeout", {s.op});
    return;
  }
  transports_[name] = transport;
}

// received NAME: every byte NAME's protocol received so far.
void Runner::received(const Step& s) {
  std::string name = s.name(0, "a sink or protocol name");
  auto it = protocols_.find(name);
  if (it == protocols_.end())
    throw Unsupported("received: '" + name + "' is no protocol (sinks are not implemented by the ref driver yet)");
  rec_.returned(s.op, data_args(it->second->total()));
}

// pty M S: os.openpty() (both ends close-on-exec).
void Runner::pty(const Step& s) {
  int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) OSError::raise_errno(errno);
  char path[128];
  if (::grantpt(master) < 0 || ::unlockpt(master) < 0 || ::ptsname_r(master, path, sizeof path) != 0) {
    int err = errno;
    ::close(master);
    OSError::raise_errno(err);
  }
  int slave = ::open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) {
    int err = errno;
    ::close(master);
    OSError::raise_errno(err);
  }
  fds_[s.name(0, "a name for the master")] = master;
  fds_[s.name(1, "a name for the slave")] = slave;
}

// A returned value that is an object: the name bound to it, as render_result gives it.
nlohmann::json Runner::object_token(const std::any& value) const {
  if (!value.has_value()) return "None";
  if (const int* fd = std::any_cast<int>(&value)) return rec_.fd_name(*fd);
  if (const std::string* text = std::any_cast<std::string>(&value)) return *text;
  return "<object>";
}

// NAME.METHOD on a transport; false when NAME is no transport.
bool Runner::transport_method(const Step& s, const std::string& object, const std::string& method) {
  auto it = transports_.find(object);
  if (it == transports_.end()) return false;
  std::shared_ptr<BaseTransport> t = it->second;  // alive for the whole call
  if (method == "close") {
    t->close();
  } else if (method == "is_closing") {
    rec_.returned(s.op, {t->is_closing()});
  } else if (method == "repr") {
    rec_.returned(s.op, {t->repr()});
  } else if (method == "get_extra_info") {
    rec_.returned(s.op, {object_token(t->get_extra_info(text_value(s.arg(0, "a key"))))});
  } else if (method == "set_protocol") {
    t->set_protocol(make_protocol(s.name(0, "a protocol name")));
  } else if (method == "get_protocol") {
    auto protocol = t->get_protocol();
    std::string name = "None";
    for (auto& [pname, p] : protocols_)
      if (protocol && p.get() == protocol.get()) name = pname;
    if (protocol && name == "None") name = "<Protocol>";
    rec_.returned(s.op, {name});
  } else if (auto* reader = dynamic_cast<ReadTransport*>(t.get()); reader && read_method(s, *reader, method)) {
  } else if (auto* writer = dynamic_cast<WriteTransport*>(t.get()); writer && write_method(s, *writer, method)) {
  } else {
    throw Unsupported("transport " + object + " has no method " + method + " in the ref driver");
  }
  return true;
}

bool Runner::read_method(const Step& s, ReadTransport& t, const std::string& method) {
  if (method == "is_reading")
    rec_.returned(s.op, {t.is_reading()});
  else if (method == "pause_reading")
    t.pause_reading();
  else if (method == "resume_reading")
    t.resume_reading();
  else
    return false;
  return true;
}

bool Runner::write_method(const Step& s, WriteTransport& t, const std::string& method) {
  if (method == "write") {
    check_write_kind(s);
    t.write(bytes_of(payload(s, s.arg(0, "a byte count or text"))));
  } else if (method == "writelines") {
    std::vector<std::string> pieces;
    for (const auto& a : s.args) pieces.push_back(payload(s, a));
    std::vector<std::span<const std::byte>> list;
    for (const auto& p : pieces) list.push_back(bytes_of(p));
    t.writelines(list);
  } else if (method == "write_eof") {
    t.write_eof();
  } else if (method == "can_write_eof") {
    rec_.returned(s.op, {t.can_write_eof()});
  } else if (method == "abort") {
    t.abort();
  } else if (method == "get_write_buffer_size") {
    rec_.returned(s.op, {t.get_write_buffer_size()});
  } else if (method == "get_write_buffer_limits") {
    auto [low, high] = t.get_write_buffer_limits();
    rec_.returned(s.op, {low, high});
  } else if (method == "set_write_buffer_limits") {
    t.set_write_buffer_limits(size_kw(s, "high"), size_kw(s, "low"));
  } else {
    return false;
  }
  return true;
}

}  // namespace loopcheck::ref
