// StreamReader / StreamWriter steps on a Process's streams (P.stdin, P.stdout, P.stderr);
// conformance/drivers/python/steps_streams.py gives their meaning. An IncompleteReadError is
// preceded by `incomplete OP COUNT TEXT EXPECTED`, a LimitOverrunError by `overrun OP CONSUMED`.
#include "loopcheck/errors.hpp"
#include "loopcheck/stream_errors.hpp"
#include "loopcheck/subprocess_streams.hpp"
#include "await_step.hpp"
#include "data.hpp"
#include "runner.hpp"

namespace loopcheck::ref {
namespace {

std::string payload_text(const Step& s, const nlohmann::json& v) {
  if (v.is_number_integer()) return pattern(v.get<std::size_t>());
  if (v.is_object() && v.contains("str")) return v["str"].get<std::string>();
  throw StepError("line " + std::to_string(s.line) + ": expected a byte count or a quoted text");
}

long integer_arg(const Step& s, std::size_t i, long fallback) {
  if (i >= s.args.size()) return fallback;
  if (!s.args[i].is_number_integer()) throw Unsupported(s.op + " takes an integer in C++");
  return s.args[i].get<long>();
}

}  // namespace

// Records what a failed read's exception carries, before the step's `raised` event.
void Runner::note_read_error(const std::string& op, const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const IncompleteReadError& err) {
    nlohmann::json args = {op};
    for (auto& t : data_args(err.partial())) args.push_back(t);
    args.push_back(err.expected() ? nlohmann::json(*err.expected()) : nlohmann::json("None"));
    rec_.event("incomplete", args);
  } catch (const LimitOverrunError& err) {
    rec_.event("overrun", {op, err.consumed()});
  } catch (...) {
  }
}

template <class T, class Render>
void Runner::await_read(const Step& s, Future<T> read, Render render) {
  read.add_done_callback(
      [this, op = s.op](const Future<T>& f) {
        if (!f.cancelled() && f.exception()) note_read_error(op, f.exception());
      },
      label("read"));
  await_step(s, read, [this, op = s.op, render](const T& value) { rec_.returned(op, render(value)); });
}

void Runner::reader_method(const Step& s, StreamReader& r, const std::string& method) {
  auto bytes = [](const std::string& data) { return data_args(data); };
  if (method == "readline") return await_read(s, r.readline(), bytes);
  if (method == "readexactly") return await_read(s, r.readexactly(integer_arg(s, 0, 0)), bytes);
  if (method == "read") return await_read(s, r.read(integer_arg(s, 0, -1)), bytes);
  if (method == "at_eof") return rec_.returned(s.op, {r.at_eof()});
  if (method == "readuntil") {
    std::vector<std::string> seps;
    for (const auto& a : s.args) seps.push_back(payload_text(s, a));
    if (seps.size() == 1) return await_read(s, r.readuntil(seps[0]), bytes);
    return await_read(s, r.readuntil(std::move(seps)), bytes);
  }
  if (method == "lines") return await_read(s, lines_of(r), [](const nlohmann::json& v) { return v; });
  throw Unsupported("StreamReader method " + method + " is not implemented by the ref driver");
}

// `async for line in reader`: anext() until it stops; the lines as COUNT TEXT each.
Future<nlohmann::json> Runner::lines_of(StreamReader& r) {
  auto result = loop_.create_future<nlohmann::json>();
  auto found = std::make_shared<nlohmann::json>(nlohmann::json::array());
  auto next_line = std::make_shared<std::function<void()>>();
  // Each pending anext() holds the loop body alive; the body only refers to itself weakly.
  *next_line = [&r, result, found, self = std::weak_ptr<std::function<void()>>(next_line)]() mutable {
    auto take = [&](const Future<std::optional<std::string>>& f) {
      if (f.cancelled()) return result.cancel(), false;
      if (auto e = f.exception()) return result.set_exception(e), false;
      if (!f.result()) return result.set_result(*found), false;
      for (auto& t : data_args(*f.result())) found->push_back(t);
      return true;
    };
    for (;;) {
      auto next = r.anext();
      if (!next.done()) {
        next.add_done_callback([take, keep = self.lock()](const Future<std::optional<std::string>>& f) mutable {
          if (take(f)) (*keep)();
        });
        return;
      }
      if (!take(next)) return;
    }
  };
  (*next_line)();
  return result;
}

void Runner::writer_method(const Step& s, StreamWriter& w, const std::string& method) {
  if (method == "write") {
    std::string data = payload_text(s, s.arg(0, "a byte count or text"));
    w.write({reinterpret_cast<const std::byte*>(data.data()), data.size()});
  } else if (method == "close") {
    w.close();
  } else if (method == "write_eof") {
    w.write_eof();
  } else if (method == "is_closing") {
    rec_.returned(s.op, {w.is_closing()});
  } else if (method == "can_write_eof") {
    rec_.returned(s.op, {w.can_write_eof()});
  } else if (method == "wait_closed") {
    await_step(s, w.wait_closed(), [] {});  // returns None: nothing recorded
  } else if (method == "drain") {
    await_step(s, w.drain(), [this, op = s.op] { rec_.returned(op, {"None"}); });
  } else {
    throw Unsupported("StreamWriter method " + method + " is not implemented by the ref driver");
  }
}

// P.stdin.METHOD, P.stdout.METHOD, P.stderr.METHOD on a Process; false for other objects.
bool Runner::stream_method(const Step& s, const std::string& object, const std::string& method) {
  auto dot = object.rfind('.');
  if (dot == std::string::npos) return false;
  auto it = processes_.find(object.substr(0, dot));
  if (it == processes_.end()) return false;
  Process& p = *it->second;
  std::string which = object.substr(dot + 1);
  if (which == "stdin" && p.stdin_) return writer_method(s, *p.stdin_, method), true;
  if (which == "stdout" && p.stdout_) return reader_method(s, *p.stdout_, method), true;
  if (which == "stderr" && p.stderr_) return reader_method(s, *p.stderr_, method), true;
  throw StepError("unknown name '" + object + "' (not created by an earlier step)");
}

}  // namespace loopcheck::ref
