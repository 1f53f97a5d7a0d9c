// Python's exception types mirrored as C++ types.
//
// Each exception carries the Python type name and CPython's exact message, so a trace can
// print `TypeName: message` and compare it with a recording. The C++ class tree follows the
// Python one (BrokenPipeError derives from ConnectionError, which derives from OSError ...),
// so `catch (const OSError&)` catches what `except OSError` would.
//
//   PyException  (Python's BaseException)
//   ├── Exception
//   │   ├── ValueError, TypeError, AttributeError, KeyError, InvalidStateError
//   │   ├── RuntimeError └── NotImplementedError
//   │   └── OSError
//   │       ├── BlockingIOError, ChildProcessError, FileExistsError, FileNotFoundError,
//   │       │   InterruptedError, IsADirectoryError, NotADirectoryError, PermissionError,
//   │       │   ProcessLookupError, TimeoutError
//   │       └── ConnectionError
//   │           └── BrokenPipeError, ConnectionAbortedError, ConnectionRefusedError,
//   │               ConnectionResetError
//   ├── CancelledError     (asyncio.CancelledError is a BaseException since 3.8)
//   ├── KeyboardInterrupt  (propagates out of run_forever)
//   └── SystemExit         (propagates out of run_forever)
//
// A derived exception may carry a different Python type name than its C++ class (for example
// a scenario's own `MyError(ValueError)`): pass the name to the class's (name, message)
// constructor; is_a() then answers for that name and for every ancestor of the C++ class.
#pragma once

#include <exception>
#include <optional>
#include <string>
#include <string_view>

namespace loopcheck {

// Python's BaseException.
class PyException : public std::exception {
 public:
  PyException(std::string type_name, std::string message)
      : type_name_(std::move(type_name)), message_(std::move(message)) {}

  // Python type name, e.g. "BrokenPipeError".
  const std::string& type_name() const noexcept { return type_name_; }
  // str(exc), e.g. "[Errno 32] Broken pipe" or "Event loop is closed".
  const std::string& message() const noexcept { return message_; }
  const char* what() const noexcept override { return message_.c_str(); }

  // isinstance(exc, <python_type>): true for the exception's own Python name and for every
  // Python ancestor of its C++ class ("BaseException" is always true).
  bool is_a(std::string_view python_type) const {
    return python_type == type_name_ || class_is_a(python_type);
  }

  // repr(exc): `ValueError('boom')`, `CancelledError()`, `BrokenPipeError(32, 'Broken pipe')`.
  virtual std::string repr() const;

  // The last line of Python's traceback print-out: `ValueError: boom`, or `CancelledError`
  // when the message is empty. This is the "exception text" handed to the logger.
  std::string format_exception_only() const;

 protected:
  // Ancestry of the C++ class, by Python name; each class adds its own name.
  virtual bool class_is_a(std::string_view python_type) const { return python_type == "BaseException"; }

 private:
  std::string type_name_;
  std::string message_;
};

// Declares `Name : Base` whose Python name is "Name". `Name(message)` uses the class's own
// Python name; `Name(type_name, message)` gives a Python subclass its own name.
#define LOOPCHECK_PY_EXCEPTION(Name, Base)                                          \
  class Name : public Base {                                                        \
   public:                                                                          \
    explicit Name(std::string message = {}) : Base(#Name, std::move(message)) {}    \
    Name(std::string type_name, std::string message)                                \
        : Base(std::move(type_name), std::move(message)) {}                         \
                                                                                    \
   protected:                                                                       \
    bool class_is_a(std::string_view python_type) const override {                 \
      return python_type == #Name || Base::class_is_a(python_type);                 \
    }                                                                               \
  };

LOOPCHECK_PY_EXCEPTION(Exception, PyException)
LOOPCHECK_PY_EXCEPTION(ValueError, Exception)
LOOPCHECK_PY_EXCEPTION(TypeError, Exception)
LOOPCHECK_PY_EXCEPTION(AttributeError, Exception)
LOOPCHECK_PY_EXCEPTION(LookupError, Exception)
LOOPCHECK_PY_EXCEPTION(RuntimeError, Exception)
LOOPCHECK_PY_EXCEPTION(NotImplementedError, RuntimeError)
// asyncio.InvalidStateError (asyncio.exceptions), a plain Exception subclass.
LOOPCHECK_PY_EXCEPTION(InvalidStateError, Exception)
// A failed `assert` (the child watchers assert their preconditions, as CPython does).
LOOPCHECK_PY_EXCEPTION(AssertionError, Exception)
// asyncio.CancelledError; str() is the cancel message ("" when none was given).
LOOPCHECK_PY_EXCEPTION(CancelledError, PyException)
LOOPCHECK_PY_EXCEPTION(KeyboardInterrupt, PyException)

// KeyError's str() is repr(key); the message given here is used as-is.
LOOPCHECK_PY_EXCEPTION(KeyError, LookupError)

// SystemExit carries an exit code; SystemExit() is code None. str() is the code as text, ""
// for None; repr() is `SystemExit(3)` or `SystemExit()`.
class SystemExit : public PyException {
 public:
  explicit SystemExit(std::optional<int> code = std::nullopt)
      : PyException("SystemExit", code ? std::to_string(*code) : std::string()), code_(code) {}
  std::optional<int> code() const noexcept { return code_; }
  std::string repr() const override { return code_ ? "SystemExit(" + std::to_string(*code_) + ")" : "SystemExit()"; }

 protected:
  bool class_is_a(std::string_view python_type) const override {
    return python_type == "SystemExit" || PyException::class_is_a(python_type);
  }

 private:
  std::optional<int> code_;
};

// OSError with errno and strerror; str() is "[Errno 32] Broken pipe". An OSError built from
// a message only (errno 0) has that message as str(), like OSError('text').
class OSError : public Exception {
 public:
  explicit OSError(std::string message) : Exception("OSError", std::move(message)) {}
  OSError(int err, std::string strerror) : OSError("OSError", err, std::move(strerror)) {}
  OSError(std::string type_name, int err, std::string strerror)
      : Exception(std::move(type_name), format(err, strerror)), errno_(err), strerror_(std::move(strerror)) {}
  // OSError() with no arguments (errno None, str() ''), e.g. BrokenPipeError() on a peer close.
  struct NoArgs {};
  OSError(std::string type_name, NoArgs) : Exception(std::move(type_name), std::string()) {}
  // OSError('text'): errno None, str() is the text (ConnectionResetError('Connection lost')).
  struct Message {
    std::string text;
  };
  OSError(std::string type_name, Message m) : Exception(std::move(type_name), std::move(m.text)) {}
  // OSError(errno, strerror, filename): str() is "[Errno 2] No such file or directory: 'f'",
  // repr() leaves the filename out, as Python's does. `filename_repr` is repr(filename).
  struct Filename {
    std::string repr;
  };
  OSError(std::string type_name, int err, std::string strerror, const Filename& f)
      : Exception(std::move(type_name), format(err, strerror) + ": " + f.repr), errno_(err), strerror_(std::move(strerror)) {}

  // The exception CPython raises for this errno (PEP 3151 mapping), with strerror(err) as text.
  // Throws nothing; returns by value a pointer-free copy through std::exception_ptr.
  static std::exception_ptr from_errno(int err);
  // Throws the exception from_errno(err) describes.
  [[noreturn]] static void raise_errno(int err);

  int error_number() const noexcept { return errno_; }
  const std::string& strerror() const noexcept { return strerror_; }
  std::string repr() const override;

 protected:
  bool class_is_a(std::string_view python_type) const override {
    return python_type == "OSError" || Exception::class_is_a(python_type);
  }

 private:
  static std::string format(int err, const std::string& strerror);
  int errno_ = 0;
  std::string strerror_;
};

#define LOOPCHECK_OS_ERROR(Name, Base)                                              \
  class Name : public Base {                                                        \
   public:                                                                          \
    Name(int err, std::string strerror) : Base(#Name, err, std::move(strerror)) {}  \
    Name(std::string type_name, int err, std::string strerror)                      \
        : Base(std::move(type_name), err, std::move(strerror)) {}                   \
    explicit Name(OSError::NoArgs none) : Base(#Name, none) {}                      \
    explicit Name(OSError::Message m) : Base(#Name, std::move(m)) {}                \
    Name(std::string type_name, OSError::Message m) : Base(std::move(type_name), std::move(m)) {} \
    Name(int err, std::string strerror, const OSError::Filename& f)                 \
        : Base(#Name, err, std::move(strerror), f) {}                               \
    Name(std::string type_name, int err, std::string strerror, const OSError::Filename& f) \
        : Base(std::move(type_name), err, std::move(strerror), f) {}                \
    Name(std::string type_name, OSError::NoArgs none) : Base(std::move(type_name), none) {} \
                                                                                    \
   protected:                                                                       \
    bool class_is_a(std::string_view python_type) const override {                 \
      return python_type == #Name || Base::class_is_a(python_type);                 \
    }                                                                               \
  };

LOOPCHECK_OS_ERROR(BlockingIOError, OSError)
LOOPCHECK_OS_ERROR(ChildProcessError, OSError)
LOOPCHECK_OS_ERROR(FileExistsError, OSError)
LOOPCHECK_OS_ERROR(FileNotFoundError, OSError)
LOOPCHECK_OS_ERROR(InterruptedError, OSError)
LOOPCHECK_OS_ERROR(IsADirectoryError, OSError)
LOOPCHECK_OS_ERROR(NotADirectoryError, OSError)
LOOPCHECK_OS_ERROR(PermissionError, OSError)
LOOPCHECK_OS_ERROR(ProcessLookupError, OSError)
LOOPCHECK_OS_ERROR(TimeoutError, OSError)
LOOPCHECK_OS_ERROR(ConnectionError, OSError)
LOOPCHECK_OS_ERROR(BrokenPipeError, ConnectionError)
LOOPCHECK_OS_ERROR(ConnectionAbortedError, ConnectionError)
LOOPCHECK_OS_ERROR(ConnectionRefusedError, ConnectionError)
LOOPCHECK_OS_ERROR(ConnectionResetError, ConnectionError)

#undef LOOPCHECK_OS_ERROR
#undef LOOPCHECK_PY_EXCEPTION

// Python type name of any exception: the PyException's own name, "Exception" for other
// std::exception types (a C++ error escaping a callback is reported as a plain Exception),
// "BaseException" for anything else.
std::string exception_type_name(const std::exception_ptr& e);
// str(exc) for any exception (what() for std::exception, "" for unknown types).
std::string exception_message(const std::exception_ptr& e);
// repr(exc) for any exception: PyException::repr(), else `Exception('what')`.
std::string exception_repr(const std::exception_ptr& e);
// Traceback's last line for any exception: `Type: message` or `Type`.
std::string format_exception_only(const std::exception_ptr& e);
// isinstance(exc, python_type) for any exception; non-PyException std::exceptions count as
// "Exception" (and "BaseException").
bool exception_is_a(const std::exception_ptr& e, std::string_view python_type);
// True for SystemExit and KeyboardInterrupt, which the loop lets propagate.
bool is_system_exit_or_keyboard_interrupt(const std::exception_ptr& e);

}  // namespace loopcheck
