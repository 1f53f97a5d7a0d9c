// Python exception mirrors: names, messages, hierarchy, errno mapping, reprs.
#include <gtest/gtest.h>

#include <cerrno>
#include <stdexcept>

#include "loopcheck/errors.hpp"

using namespace loopcheck;

namespace {

std::exception_ptr ptr(int err) { return OSError::from_errno(err); }

}  // namespace

TEST(Errors, MessageAndWhat) {
  RuntimeError e("Event loop is closed");
  EXPECT_EQ(e.type_name(), "RuntimeError");
  EXPECT_EQ(e.message(), "Event loop is closed");
  EXPECT_STREQ(e.what(), "Event loop is closed");
  EXPECT_EQ(e.repr(), "RuntimeError('Event loop is closed')");
  EXPECT_EQ(e.format_exception_only(), "RuntimeError: Event loop is closed");
  EXPECT_EQ(ValueError().repr(), "ValueError()");
  EXPECT_EQ(ValueError().format_exception_only(), "ValueError");
}

TEST(Errors, HierarchyMatchesPython) {
  NotImplementedError nie("x");
  EXPECT_TRUE(nie.is_a("NotImplementedError"));
  EXPECT_TRUE(nie.is_a("RuntimeError"));
  EXPECT_TRUE(nie.is_a("Exception"));
  EXPECT_TRUE(nie.is_a("BaseException"));
  EXPECT_FALSE(nie.is_a("ValueError"));
  EXPECT_TRUE(InvalidStateError().is_a("Exception"));
  EXPECT_TRUE(KeyError("k").is_a("LookupError"));
  CancelledError ce;
  KeyboardInterrupt ki;
  SystemExit se(0);
  for (const PyException* e : {static_cast<const PyException*>(&ce), static_cast<const PyException*>(&ki),
                                static_cast<const PyException*>(&se)}) {
    EXPECT_TRUE(e->is_a("BaseException"));
    EXPECT_TRUE(e->is_a(e->type_name()));
    EXPECT_FALSE(e->is_a("Exception"));
  }
  EXPECT_TRUE(AttributeError().is_a("Exception"));
  EXPECT_TRUE(TypeError().is_a("Exception"));
}

TEST(Errors, CppCatchFollowsHierarchy) {
  try {
    OSError::raise_errno(EPIPE);
  } catch (const ConnectionError& e) {
    EXPECT_EQ(e.type_name(), "BrokenPipeError");
    EXPECT_TRUE(e.is_a("OSError"));
    EXPECT_TRUE(e.is_a("ConnectionError"));
    EXPECT_FALSE(e.is_a("ConnectionResetError"));
    return;
  }
  FAIL();
}

TEST(Errors, FromErrnoChoosesCpythonSubclass) {
  struct Case {
    int err;
    const char* type;
    const char* text;
  };
  const Case cases[] = {
      {EPIPE, "BrokenPipeError", "[Errno 32] Broken pipe"},
      {ESHUTDOWN, "BrokenPipeError", "[Errno 108] Cannot send after transport endpoint shutdown"},
      {EAGAIN, "BlockingIOError", "[Errno 11] Resource temporarily unavailable"},
      {EINPROGRESS, "BlockingIOError", "[Errno 115] Operation now in progress"},
      {EALREADY, "BlockingIOError", "[Errno 114] Operation already in progress"},
      {ECONNRESET, "ConnectionResetError", "[Errno 104] Connection reset by peer"},
      {ECONNREFUSED, "ConnectionRefusedError", "[Errno 111] Connection refused"},
      {ECONNABORTED, "ConnectionAbortedError", "[Errno 103] Software caused connection abort"},
      {ESRCH, "ProcessLookupError", "[Errno 3] No such process"},
      {ECHILD, "ChildProcessError", "[Errno 10] No child processes"},
      {ENOENT, "FileNotFoundError", "[Errno 2] No such file or directory"},
      {EEXIST, "FileExistsError", "[Errno 17] File exists"},
      {EACCES, "PermissionError", "[Errno 13] Permission denied"},
      {EPERM, "PermissionError", "[Errno 1] Operation not permitted"},
      {EINTR, "InterruptedError", "[Errno 4] Interrupted system call"},
      {EISDIR, "IsADirectoryError", "[Errno 21] Is a directory"},
      {ENOTDIR, "NotADirectoryError", "[Errno 20] Not a directory"},
      {ETIMEDOUT, "TimeoutError", "[Errno 110] Connection timed out"},
      {EBADF, "OSError", "[Errno 9] Bad file descriptor"},
      {EINVAL, "OSError", "[Errno 22] Invalid argument"},
  };
  for (const Case& c : cases) {
    std::exception_ptr e = ptr(c.err);
    EXPECT_EQ(exception_type_name(e), c.type) << c.err;
    EXPECT_EQ(exception_message(e), c.text) << c.err;
    EXPECT_TRUE(exception_is_a(e, "OSError"));
  }
}

TEST(Errors, OSErrorFieldsAndRepr) {
  try {
    OSError::raise_errno(EPIPE);
  } catch (const OSError& e) {
    EXPECT_EQ(e.error_number(), EPIPE);
    EXPECT_EQ(e.strerror(), "Broken pipe");
    EXPECT_EQ(e.repr(), "BrokenPipeError(32, 'Broken pipe')");
  }
  OSError plain("just text");
  EXPECT_EQ(plain.message(), "just text");
  EXPECT_EQ(plain.error_number(), 0);
  EXPECT_EQ(plain.repr(), "OSError('just text')");
}

TEST(Errors, PythonSubclassNames) {
  ValueError mine("MyError", "custom");
  EXPECT_EQ(mine.type_name(), "MyError");
  EXPECT_TRUE(mine.is_a("MyError"));
  EXPECT_TRUE(mine.is_a("ValueError"));
  EXPECT_EQ(mine.repr(), "MyError('custom')");
}

TEST(Errors, SystemExitCode) {
  SystemExit e(2);
  EXPECT_EQ(e.code(), 2);
  EXPECT_EQ(e.message(), "2");
  EXPECT_EQ(e.repr(), "SystemExit(2)");
  SystemExit none;  // SystemExit(): code None
  EXPECT_EQ(none.code(), std::nullopt);
  EXPECT_EQ(none.message(), "");
  EXPECT_EQ(none.repr(), "SystemExit()");
  EXPECT_EQ(none.format_exception_only(), "SystemExit");
}

TEST(Errors, ForeignExceptionsDescribedAsException) {
  auto e = std::make_exception_ptr(std::runtime_error("oops"));
  EXPECT_EQ(exception_type_name(e), "Exception");
  EXPECT_EQ(exception_message(e), "oops");
  EXPECT_EQ(exception_repr(e), "Exception('oops')");
  EXPECT_EQ(format_exception_only(e), "Exception: oops");
  EXPECT_TRUE(exception_is_a(e, "Exception"));
  EXPECT_FALSE(exception_is_a(e, "ValueError"));
  auto odd = std::make_exception_ptr(42);
  EXPECT_EQ(exception_type_name(odd), "BaseException");
  EXPECT_FALSE(exception_is_a(odd, "Exception"));
  EXPECT_TRUE(exception_is_a(odd, "BaseException"));
  EXPECT_EQ(exception_repr(nullptr), "None");
}

TEST(Errors, SystemExitAndKeyboardInterruptDetection) {
  EXPECT_TRUE(is_system_exit_or_keyboard_interrupt(std::make_exception_ptr(SystemExit(0))));
  EXPECT_TRUE(is_system_exit_or_keyboard_interrupt(std::make_exception_ptr(KeyboardInterrupt())));
  EXPECT_FALSE(is_system_exit_or_keyboard_interrupt(std::make_exception_ptr(CancelledError())));
  EXPECT_FALSE(is_system_exit_or_keyboard_interrupt(nullptr));
}
