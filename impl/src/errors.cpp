// Python exception mirrors: reprs, the errno -> subclass mapping (PEP 3151), and helpers
// that describe any std::exception_ptr in Python terms.
#include "loopcheck/errors.hpp"

#include <cerrno>
#include <cstring>

#include "loopcheck/pyrepr.hpp"

namespace loopcheck {

std::string PyException::repr() const {
  if (message_.empty()) return type_name_ + "()";
  return type_name_ + "(" + py_repr(message_) + ")";
}

std::string PyException::format_exception_only() const {
  if (message_.empty()) return type_name_;
  return type_name_ + ": " + message_;
}

std::string OSError::format(int err, const std::string& strerror) {
  return "[Errno " + std::to_string(err) + "] " + strerror;
}

std::string OSError::repr() const {
  if (errno_ == 0) return PyException::repr();
  return type_name() + "(" + std::to_string(errno_) + ", " + py_repr(strerror_) + ")";
}

namespace {

template <class E>
std::exception_ptr make_os_error(int err) {
  return std::make_exception_ptr(E(err, std::strerror(err)));
}

}  // namespace

std::exception_ptr OSError::from_errno(int err) {
  switch (err) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
    case EALREADY:
    case EINPROGRESS:
      return make_os_error<BlockingIOError>(err);
    case ECHILD: return make_os_error<ChildProcessError>(err);
    case EPIPE:
    case ESHUTDOWN: return make_os_error<BrokenPipeError>(err);
    case ECONNABORTED: return make_os_error<ConnectionAbortedError>(err);
    case ECONNREFUSED: return make_os_error<ConnectionRefusedError>(err);
    case ECONNRESET: return make_os_error<ConnectionResetError>(err);
    case EEXIST: return make_os_error<FileExistsError>(err);
    case ENOENT: return make_os_error<FileNotFoundError>(err);
    case EISDIR: return make_os_error<IsADirectoryError>(err);
    case ENOTDIR: return make_os_error<NotADirectoryError>(err);
    case EINTR: return make_os_error<InterruptedError>(err);
    case EACCES:
    case EPERM: return make_os_error<PermissionError>(err);
    case ESRCH: return make_os_error<ProcessLookupError>(err);
    case ETIMEDOUT: return make_os_error<TimeoutError>(err);
    default: return make_os_error<OSError>(err);
  }
}

void OSError::raise_errno(int err) { std::rethrow_exception(from_errno(err)); }

namespace {

// Calls `py(const PyException&)`, `std(const std::exception&)` or `other()` for `e`.
template <class Py, class Std, class Other>
auto visit_exception(const std::exception_ptr& e, Py py, Std std_fn, Other other) {
  try {
    std::rethrow_exception(e);
  } catch (const PyException& p) {
    return py(p);
  } catch (const std::exception& s) {
    return std_fn(s);
  } catch (...) {
    return other();
  }
}

}  // namespace

std::string exception_type_name(const std::exception_ptr& e) {
  if (!e) return "NoneType";
  return visit_exception(
      e, [](const PyException& p) { return p.type_name(); }, [](const std::exception&) { return std::string("Exception"); },
      [] { return std::string("BaseException"); });
}

std::string exception_message(const std::exception_ptr& e) {
  if (!e) return "";
  return visit_exception(
      e, [](const PyException& p) { return p.message(); }, [](const std::exception& s) { return std::string(s.what()); },
      [] { return std::string(); });
}

std::string exception_repr(const std::exception_ptr& e) {
  if (!e) return "None";
  return visit_exception(
      e, [](const PyException& p) { return p.repr(); },
      [](const std::exception& s) {
        std::string what = s.what();
        return what.empty() ? std::string("Exception()") : "Exception(" + py_repr(what) + ")";
      },
      [] { return std::string("BaseException()"); });
}

std::string format_exception_only(const std::exception_ptr& e) {
  if (!e) return "NoneType: None";
  std::string name = exception_type_name(e);
  std::string msg = exception_message(e);
  return msg.empty() ? name : name + ": " + msg;
}

bool exception_is_a(const std::exception_ptr& e, std::string_view python_type) {
  if (!e) return false;
  return visit_exception(
      e, [&](const PyException& p) { return p.is_a(python_type); },
      [&](const std::exception&) { return python_type == "Exception" || python_type == "BaseException"; },
      [&] { return python_type == "BaseException"; });
}

bool is_system_exit_or_keyboard_interrupt(const std::exception_ptr& e) {
  if (!e) return false;
  try {
    std::rethrow_exception(e);
  } catch (const SystemExit&) {
    return true;
  } catch (const KeyboardInterrupt&) {
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace loopcheck
