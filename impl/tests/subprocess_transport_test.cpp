// Subprocess transports (subprocess_transport.hpp): loop.subprocess_exec/subprocess_shell,
// the protocol call order, close(), repr, argument checks. Children are /bin/sh and
// coreutils; every test runs until connection_lost, so each child is reaped by the watcher.
#include <signal.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "loopcheck/child_watcher_policy.hpp"
#include "loopcheck/child_watchers.hpp"
#include "loopcheck/subprocess_transport.hpp"
#include "loopcheck/warnings.hpp"
#include "test_support.hpp"

namespace loopcheck {
namespace {


// Records every protocol call as text; data is merged per fd.
struct RecordingSubprocess : SubprocessProtocol {
  std::vector<std::string> events;
  std::string data[3];
  bool lost = false;
  void connection_made(BaseTransport&) override { events.push_back("connection_made"); }
  void pipe_data_received(int fd, std::span<const std::byte> bytes) override {
    data[fd].append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  void pipe_connection_lost(int fd, std::exception_ptr exc) override {
    events.push_back("pipe_connection_lost " + std::to_string(fd) + (exc ? " exc" : " None"));
  }
  void process_exited() override { events.push_back("process_exited"); }
  void connection_lost(std::exception_ptr exc) override {
    events.push_back(exc ? "connection_lost exc" : "connection_lost None");
    lost = true;
  }
  void pause_writing() override { events.push_back("pause_writing"); }
  void resume_writing() override { events.push_back("resume_writing"); }
  bool saw(const std::string& e) const { return std::find(events.begin(), events.end(), e) != events.end(); }
};

struct SubprocessTest : testing::Test {
  EventLoop loop;
  std::shared_ptr<RecordingSubprocess> protocol = std::make_shared<RecordingSubprocess>();
  int factory_calls = 0;
  SubprocessProtocolFactory factory() {
    return [this] {
      ++factory_calls;
      return protocol;
    };
  }
  std::shared_ptr<BaseSubprocessTransport> await_transport(SubprocessCreation c) {
    EXPECT_TRUE(test::run_running_until(loop, [&] { return c.result.done(); }));
    auto t = std::dynamic_pointer_cast<BaseSubprocessTransport>(c.result.result().first);
    EXPECT_TRUE(t);
    return t;
  }
  void await_lost() { ASSERT_TRUE(test::run_running_until(loop, [&] { return protocol->lost; }, 5000)); }
  // The exception a creation ends with, as `Type: message`.
  std::string failure(SubprocessCreation c) {
    EXPECT_TRUE(test::run_running_until(loop, [&] { return c.result.done(); }));
    try {
      c.result.result();
    } catch (const PyException& e) {
      return e.type_name() + ": " + e.message();
    }
    return "no exception";
  }
};

TEST_F(SubprocessTest, OutputPipesExitThenConnectionLostLast) {
  auto t = await_transport(subprocess_shell(loop, factory(), std::string("printf out; printf err >&2; exit 7")));
  ASSERT_EQ(protocol->events.front(), "connection_made");
  await_lost();
  EXPECT_EQ(protocol->data[1], "out");
  EXPECT_EQ(protocol->data[2], "err");
  for (const char* e : {"pipe_connection_lost 0 None", "pipe_connection_lost 1 None", "pipe_connection_lost 2 None",
                        "process_exited"})
    EXPECT_TRUE(protocol->saw(e)) << e;
  EXPECT_EQ(protocol->events.back(), "connection_lost None");
  EXPECT_EQ(t->get_returncode(), 7);
  EXPECT_FALSE(t->is_closing());
  auto popen = std::any_cast<std::shared_ptr<Popen>>(t->get_extra_info("subprocess"));
  EXPECT_EQ(popen->returncode, 7);
  EXPECT_EQ(popen->pid(), t->get_pid());
  t->close();
}

TEST_F(SubprocessTest, ArgumentChecksComeBeforeTheFactoryInCPythonsOrder) {
  SubprocessOptions o;
  o.universal_newlines = true;
  o.shell = true;
  o.bufsize = 4096;
  EXPECT_EQ(failure(subprocess_exec(loop, factory(), {"/bin/true"}, o)), "ValueError: universal_newlines must be False");
  o.universal_newlines = false;
  EXPECT_EQ(failure(subprocess_exec(loop, factory(), {"/bin/true"}, o)), "ValueError: shell must be False");
  o.shell = std::nullopt;
  EXPECT_EQ(failure(subprocess_exec(loop, factory(), {"/bin/true"}, o)), "ValueError: bufsize must be 0");
  SubprocessOptions t;
  t.text = true;
  t.encoding = "utf-8";
  EXPECT_EQ(failure(subprocess_exec(loop, factory(), {"/bin/true"}, t)), "ValueError: text must be False");
  SubprocessOptions s;
  s.shell = false;
  EXPECT_EQ(failure(subprocess_shell(loop, factory(), std::string("exit 0"), s)), "ValueError: shell must be True");
  EXPECT_EQ(failure(subprocess_shell(loop, factory(), std::vector<std::string>{"/bin/true"}, s)),
            "ValueError: cmd must be a string");
  EXPECT_EQ(factory_calls, 0);
}

TEST_F(SubprocessTest, MissingProgramRaisesFileNotFoundErrorAfterTheFactory) {
  EXPECT_EQ(failure(subprocess_exec(loop, factory(), {"/nonexistent/program"})),
            "FileNotFoundError: [Errno 2] No such file or directory: '/nonexistent/program'");
  EXPECT_EQ(factory_calls, 1);
  EXPECT_TRUE(protocol->events.empty());
}

TEST_F(SubprocessTest, CloseKillsARunningChildAndReprFollowsTheState) {
  SubprocessOptions o;
  o.stdin_ = Stdio::devnull();
  o.stderr_ = Stdio::devnull();
  auto t = await_transport(subprocess_exec(loop, factory(), {"/bin/sleep", "30"}, o));
  std::string pid = std::to_string(t->get_pid());
  EXPECT_EQ(t->repr(), "<_UnixSubprocessTransport pid=" + pid + " running stdout=" +
                           t->get_pipe_transport(1)->repr() + ">");
  EXPECT_EQ(t->get_pipe_transport(0), nullptr);
  EXPECT_EQ(t->get_pipe_transport(2), nullptr);
  t->close();
  EXPECT_TRUE(t->is_closing());
  await_lost();
  EXPECT_EQ(t->get_returncode(), -SIGKILL);
  std::string pipe = t->get_pipe_transport(1)->repr();
  EXPECT_EQ(pipe.rfind("<_UnixReadPipeTransport closed fd=", 0), 0u) << pipe;
  EXPECT_EQ(t->repr(), "<_UnixSubprocessTransport closed pid=" + pid + " returncode=-9 stdout=" + pipe + ">");
}

TEST_F(SubprocessTest, StdinWritesAndWriteEofReachTheChild) {
  SubprocessOptions o;
  o.stderr_ = Stdio::devnull();
  auto t = await_transport(subprocess_exec(loop, factory(), {"/bin/cat"}, o));
  auto in = std::dynamic_pointer_cast<WriteTransport>(t->get_pipe_transport(0));
  ASSERT_TRUE(in);
  std::string text = "hello";
  in->write({reinterpret_cast<const std::byte*>(text.data()), text.size()});
  in->write_eof();
  await_lost();
  EXPECT_EQ(protocol->data[1], "hello");
  EXPECT_EQ(t->get_returncode(), 0);
  t->close();
}

TEST_F(SubprocessTest, SignalsAfterConnectionLostRaiseProcessLookupError) {
  auto t = await_transport(subprocess_shell(loop, factory(), std::string("exit 0")));
  await_lost();
  EXPECT_THROW(t->send_signal(SIGTERM), ProcessLookupError);
  EXPECT_THROW(t->kill(), ProcessLookupError);
  EXPECT_NE(t->get_pipe_transport(1), nullptr);
  t->close();
}

TEST_F(SubprocessTest, WaitResolvesAtConnectionLostAndAtOnceAfterwards) {
  // The child exits only once stdin is closed, so the exit is unknown when wait() starts.
  auto t = await_transport(subprocess_shell(loop, factory(), std::string("cat >/dev/null; exit 5")));
  Future<int> pending = t->wait();
  EXPECT_FALSE(pending.done());
  std::dynamic_pointer_cast<WriteTransport>(t->get_pipe_transport(0))->write_eof();
  await_lost();
  ASSERT_TRUE(test::run_running_until(loop, [&] { return pending.done(); }));
  EXPECT_EQ(pending.result(), 5);
  Future<int> later = t->wait();
  EXPECT_TRUE(later.done());
  EXPECT_EQ(later.result(), 5);
  t->close();
}

TEST_F(SubprocessTest, CancellingTheCreationKillsTheChildAndEndsCancelled) {
  auto c = subprocess_exec(loop, factory(), {"/bin/sleep", "30"});
  loop.stop();
  loop.run_forever();  // one pass: the first step spawns the child and awaits the pipes
  EXPECT_TRUE(c.cancel());
  ASSERT_TRUE(test::run_running_until(loop, [&] { return c.result.done(); }, 5000));
  EXPECT_TRUE(c.result.cancelled());
  EXPECT_EQ(factory_calls, 1);
  // The exit was awaited before the cancellation ended the call: nothing left to reap.
  ASSERT_TRUE(test::run_running_until(loop, [&] { return protocol->lost; }, 5000));
}

TEST_F(SubprocessTest, InactiveChildWatcherRefusesToSpawnAfterTheFactory) {
  ScopedWarningHandler quiet([](const WarningRecord&) {});
  child_watcher_policy().set_child_watcher(std::make_shared<SafeChildWatcher>());  // attached to no loop
  std::string error = failure(subprocess_exec(loop, factory(), {"/bin/true"}));
  child_watcher_policy().set_child_watcher(nullptr);
  EXPECT_EQ(error,
            "RuntimeError: asyncio.get_child_watcher() is not activated, subprocess support is not installed.");
  EXPECT_EQ(factory_calls, 1);
}

TEST_F(SubprocessTest, DebugModeLogsTheRequestTheProcessAndTheExit) {
  test::CapturedLog log;
  loop.set_debug(true);
  SubprocessOptions o;
  o.stdin_ = Stdio::devnull();
  o.stderr_ = Stdio::stdout_();
  auto t = await_transport(subprocess_exec(loop, factory(), {"/bin/true"}, o));
  await_lost();
  std::vector<std::string> messages;
  for (const auto& r : log.logger->records()) messages.push_back(r.message);
  ASSERT_GE(messages.size(), 3u);
  EXPECT_NE(std::find(messages.begin(), messages.end(), "execute program '/bin/true' stdin=-3 stdout=stderr=<pipe>"),
            messages.end());
  EXPECT_NE(std::find(messages.begin(), messages.end(),
                      "process '/bin/true' created: pid " + std::to_string(t->get_pid())),
            messages.end());
  t->close();
}

TEST_F(SubprocessTest, UnclosedTransportWarnsWhenDestroyed) {
  std::vector<std::string> warnings;
  ScopedWarningHandler capture([&](const WarningRecord& w) { warnings.push_back(w.category + " " + w.message); });
  SubprocessOptions o;
  o.stdin_ = o.stdout_ = o.stderr_ = Stdio::devnull();
  std::string pid;
  {
    auto t = await_transport(subprocess_exec(loop, factory(), {"/bin/true"}, o));
    pid = std::to_string(t->get_pid());
    await_lost();
  }
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0], "ResourceWarning unclosed transport <_UnixSubprocessTransport pid=" + pid + " returncode=0>");
}

TEST_F(SubprocessTest, AThreadedWatcherReportsTheExitThroughCallSoonThreadsafe) {
  ScopedWarningHandler quiet([](const WarningRecord&) {});
  child_watcher_policy().set_child_watcher(std::make_shared<ThreadedChildWatcher>());
  SubprocessOptions o;
  o.stdin_ = o.stderr_ = Stdio::devnull();
  auto t = await_transport(subprocess_shell(loop, factory(), std::string("printf out; exit 9"), o));
  await_lost();
  child_watcher_policy().set_child_watcher(nullptr);  // its waiting thread is joined
  EXPECT_EQ(protocol->data[1], "out");
  EXPECT_EQ(t->get_returncode(), 9);
  EXPECT_EQ(protocol->events.back(), "connection_lost None");
  t->close();
}

// kill(2) fails with EPERM, as for a setuid child.
struct KillRefused : RealSyscalls {
  int refused = 0;
  int kill(pid_t pid, int sig) override {
    if (sig != SIGKILL) return RealSyscalls::kill(pid, sig);
    ++refused;
    errno = EPERM;
    return -1;
  }
};

TEST_F(SubprocessTest, CloseIgnoresAPermissionErrorFromTheKillAsIn313) {
  SubprocessOptions o;
  o.stdin_ = o.stdout_ = o.stderr_ = Stdio::devnull();
  auto t = await_transport(subprocess_exec(loop, factory(), {"/bin/sleep", "30"}, o));
  {
    KillRefused refuse;
    ScopedSyscalls scope(refuse);
    EXPECT_NO_THROW(t->close());
    EXPECT_EQ(refuse.refused, 1);
  }
  EXPECT_TRUE(t->is_closing());
  EXPECT_FALSE(t->get_returncode());
  t->terminate();  // the child still runs: end it for real
  await_lost();
  EXPECT_EQ(t->get_returncode(), -SIGTERM);
}

TEST_F(SubprocessTest, DebugModeCloseWarnsBeforeKillingARunningChild) {
  test::CapturedLog log;
  SubprocessOptions o;
  o.stdin_ = o.stdout_ = o.stderr_ = Stdio::devnull();
  auto t = await_transport(subprocess_exec(loop, factory(), {"/bin/sleep", "30"}, o));
  loop.set_debug(true);
  std::string repr_before = "<_UnixSubprocessTransport closed pid=" + std::to_string(t->get_pid()) + " running>";
  t->close();
  auto warnings = log.warnings();
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0].message, "Close running child process: kill " + repr_before);
  await_lost();
  EXPECT_EQ(t->get_returncode(), -SIGKILL);
}

TEST_F(SubprocessTest, CloseAfterTheExitSendsNoKill) {
  SubprocessOptions o;
  o.stdin_ = o.stdout_ = o.stderr_ = Stdio::devnull();
  auto t = await_transport(subprocess_exec(loop, factory(), {"/bin/sh", "-c", "exit 4"}, o));
  await_lost();
  KillRefused refuse;
  ScopedSyscalls scope(refuse);
  t->close();
  t->close();
  EXPECT_EQ(refuse.refused, 0);
  EXPECT_EQ(t->get_returncode(), 4);
}

}  // namespace
}  // namespace loopcheck
