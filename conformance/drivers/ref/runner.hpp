// Runner: executes scenario steps on the reference loop. Steps the reference does not
// implement yet are answered with Unsupported (never a crash).
#pragma once

#include <functional>
#include <sys/resource.h>
#include <sys/types.h>

#include <exception>
#include <any>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "loopcheck/event_loop.hpp"
#include "loopcheck/future.hpp"
#include "loopcheck/child_watcher.hpp"
#include "loopcheck/file_object.hpp"
#include "loopcheck/subprocess_streams.hpp"
#include "loopcheck/subprocess_transport.hpp"
#include "loopcheck/transports.hpp"
#include "recorder.hpp"
#include "recording_protocol.hpp"
#include "recording_subprocess_protocol.hpp"

namespace loopcheck::ref {

// The implementation (or this driver) lacks a step: reported as `unsupported` with the reason.
struct Unsupported : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// The scenario is wrong (unknown name, missing argument): reported as a driver error.
struct StepError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A step's own deadline unless it says timeout=S (INTERPRETING.md, section 5).
inline constexpr double kStepDeadline = 5.0;

// The text of a scenario value (a quoted text, a name, else its JSON form).
std::string text_value(const nlohmann::json& v);
// repr() of a scenario value, as CPython would print it in a context dict.
std::string value_repr(const nlohmann::json& v);
// An instance of the Python exception TYPE(MESSAGE) (a scenario-named type is an Exception).
std::exception_ptr python_exception(const std::string& type, const std::string& message);

struct Step {
  int line = 0;
  std::string op;
  nlohmann::json args = nlohmann::json::array();
  nlohmann::json kw = nlohmann::json::object();
  std::string target;                 // `on` steps
  nlohmann::json body = nlohmann::json::array();

  explicit Step(const nlohmann::json& j);
  const nlohmann::json& arg(std::size_t i, const char* what) const;
  std::string name(std::size_t i, const char* what) const;
  bool has_kw(const char* key) const { return kw.contains(key); }
};

// Runs fn() here, or on a helper thread with from=thread, re-raising what it raised there.
template <class F>
auto here_or_on_thread(const Step& s, F fn) -> decltype(fn()) {
  if (s.kw.value("from", "") != "thread") return fn();
  std::exception_ptr error;
  decltype(fn()) result{};
  std::thread t([&] {
    try {
      result = fn();
    } catch (...) {
      error = std::current_exception();
    }
  });
  t.join();
  if (error) std::rethrow_exception(error);
  return result;
}

// Children started by `spawn` (and not yet reaped) are killed and reaped at the end.
struct ChildTable {
  std::map<std::string, pid_t> pids;
  std::set<pid_t> reaped;
  ~ChildTable();
};

class Runner {
 public:
  Runner(EventLoop& loop, Recorder& recorder, double multiplier);
  ~Runner();

  // Runs steps in order; API exceptions become `raised` events, Unsupported and StepError
  // propagate to the caller.
  void execute(const nlohmann::json& steps);
  // The child program (`child` in init), for `kill process` and `spawn`.
  void set_child_path(std::string path) { child_path_ = std::move(path); }
  // The logger that collects records for `debug_log`.
  void set_trace_logger(std::shared_ptr<TraceLogger> logger) { trace_logger_ = std::move(logger); }

 private:
  using Handler = void (Runner::*)(const Step&);
  static const std::map<std::string, Handler>& handlers();

  // events that may trigger `on` actions
  void fire_callback(const std::string& name);
  void run_actions(const std::string& target);
  Callback callback(const std::string& name);
  Label label(const std::string& name) const { return Label(name + "()"); }

  // running with a deadline: true when the deadline fired
  // (the deadline stops `target`, the scenario's loop by default)
  bool with_deadline(const std::function<void()>& fn, double seconds, EventLoop* target = nullptr);
  double deadline(const Step& s) const;
  int fd(const Step& s, std::size_t i) const;

  // loop scheduling (steps_loop.cpp)
  HandleRef& handle_named(const Step& s);
  void call_soon(const Step& s);
  void call_soon_threadsafe(const Step& s);
  void call_later(const Step& s);
  void call_at(const Step& s);
  void cancel(const Step& s);
  void on(const Step& s);
  void run_once(const Step& s);
  void run_for(const Step& s);
  void run_until(const Step& s);
  void run_forever(const Step& s);
  void stop(const Step& s);
  void close(const Step& s);
  void query(const Step& s);
  void set_debug(const Step& s);
  void block(const Step& s);
  void set_exception_handler(const Step& s);
  void call_exception_handler(const Step& s);
  void loop_call(const Step& s);
  void loop_call_scheduling(const Step& s, const std::string& method);
  void loop_call_io(const Step& s, const std::string& method);
  std::string raw_callback(const Step& s, std::size_t i, const std::string& method) const;
  int raw_fd(const Step& s, std::size_t i, const std::string& method) const;
  void call_soon_threadsafe_later(const Step& s);
  void call_soon_threadsafe_many(const Step& s);
  void cancel_from_thread(const Step& s);
  void call_soon_function(const Step& s);
  void slow_callback_duration(const Step& s);
  void handle_repr(const Step& s);
  void handle_when(const Step& s);
  void loop_repr(const Step& s);
  void loop_time(const Step& s);
  void debug_log(const Step& s);
  void python_only(const Step& s);
  // futures and other loops (steps_futures.cpp)
  using JsonFuture = Future<nlohmann::json>;
  JsonFuture& future_named(const std::string& name);
  void future(const Step& s);
  void run_until_complete(const Step& s);
  void method_call(const Step& s);
  void future_method(const Step& s, JsonFuture& f, const std::string& method);
  void forget(const Step& s);
  void gc_collect(const Step& s);
  // fds (steps_fds.cpp)
  void pipe(const Step& s);
  void socketpair(const Step& s);
  void write_fd(const Step& s);
  void read_fd(const Step& s);
  void close_fd(const Step& s);
  void add_io(const Step& s);
  void remove_io(const Step& s);
  void regular_file(const Step& s);
  void devnull(const Step& s);
  void get_blocking(const Step& s);
  // signals (steps_signals.cpp)
  int signal_arg(const Step& s, std::size_t i) const;
  void add_signal_handler(const Step& s);
  void remove_signal_handler(const Step& s);
  void kill(const Step& s);
  void signal_disposition(const Step& s);
  void cancel_signal_handle(const Step& s);
  void signal_wakeup_fd(const Step& s);
  void signal_restarts(const Step& s);
  void deliver_pending(const Step& s);
  void new_loop(const Step& s);
  void fork_child_state(const Step& s);
  EventLoop& loop_arg(const Step& s);
  // children outside the loop (steps_signals.cpp)
  pid_t spawn_child(const std::vector<std::string>& words);
  pid_t child_pid(const Step& s) const;
  void spawn(const Step& s);
  void await_exit(const Step& s);
  void reap(const Step& s);
  // injected OS failures (steps_faults.cpp)
  void fail(const Step& s);
  // child watchers (steps_watchers.cpp)
  struct Watchers {
    std::map<std::string, std::shared_ptr<AbstractChildWatcher>> named;  // `watcher`, new_child_watcher names
    ~Watchers();  // the policy lets its watcher go
  };
  std::shared_ptr<AbstractChildWatcher> watcher_named(const std::string& name) const;
  void set_child_watcher(const Step& s);
  void new_child_watcher(const Step& s);
  void get_child_watcher(const Step& s);
  void set_event_loop(const Step& s);
  void waitpid_threads(const Step& s);
  void await_reaped(const Step& s);
  ChildCallback child_callback(const std::string& name);
  EventLoop* loop_value(const Step& s, std::size_t i);
  bool watcher_method(const Step& s, const std::string& object, const std::string& method);
  void watcher_call(const Step& s, AbstractChildWatcher& w, const std::string& method);
  // sendfile (steps_sendfile.cpp): file objects, sock_sendfile, async steps' tasks
  void regular_file_object(const Step& s);
  void memory_file(const Step& s);
  void sock_sendfile(const Step& s);
  void sendfile(const Step& s);
  std::shared_ptr<FileObject> file_named(const std::string& name);
  bool file_method(const Step& s, const std::string& object, const std::string& method);
  void await_size(const Step& s, Future<std::size_t> fut);
  bool cancel_task(const std::string& name);
  // transports and read pipes (steps_read_pipe.cpp): NAME.METHOD on any transport kind
  // goes through transport_method; protocols are flushed at the end of the scenario
 public:
  void flush_protocols();

 private:
  std::shared_ptr<RecordingProtocol> make_protocol(const std::string& name, RecordingProtocol::Options options = {});
  void connect_read_pipe(const Step& s);
  void received(const Step& s);
  void pty(const Step& s);
  nlohmann::json object_token(const std::any& value) const;
  bool transport_method(const Step& s, const std::string& object, const std::string& method);
  bool read_method(const Step& s, ReadTransport& t, const std::string& method);
  bool write_method(const Step& s, WriteTransport& t, const std::string& method);
  void sync_fd_names();
  // write pipes (steps_write_pipe.cpp)
  void connect_write_pipe(const Step& s);

  // Unix sockets (steps_sockets.cpp): servers, connections, plain sockets, fd limits
  void socket(const Step& s);
  void stale_socket(const Step& s);
  void path_exists(const Step& s);
  void fd_limit(const Step& s);
  void create_unix_server(const Step& s);
  void create_unix_connection(const Step& s);
  bool socket_method(const Step& s, const std::string& object, const std::string& method);
  int socket_fd(const std::string& name) const;
  template <class T, class Bound>
  void await_step(const Step& s, Future<T> future, Bound bound);

  // subprocesses (steps_subprocess.cpp): loop.subprocess_exec/shell and P.METHOD
  void subprocess_exec(const Step& s);
  void subprocess_shell(const Step& s);
  std::vector<std::string> child_words(const Step& s, std::size_t start) const;
  Stdio stdio_kw(const Step& s, const char* key, const char* fallback) const;
  SubprocessOptions subprocess_options(const Step& s, const char* default_stream) const;
  std::shared_ptr<RecordingSubprocessProtocol> make_subprocess_protocol(const std::string& name);
  SubprocessProtocolFactory subprocess_factory(const Step& s, const std::string& name);
  void bind_subprocess(const std::string& name, const std::shared_ptr<SubprocessTransport>& transport);
  nlohmann::json transport_name(const std::shared_ptr<BaseTransport>& t) const;
  bool subprocess_method(const Step& s, const std::string& object, const std::string& method);
  void create_subprocess_exec(const Step& s);
  bool process_method(const Step& s, const std::string& object, const std::string& method);
  template <class T, class Bound>
  void await_async(const Step& s, Future<T> future, std::function<bool()> cancel, Bound bound);

  EventLoop& loop_;
  Recorder& rec_;
  double multiplier_;
  double t0_;
  std::map<std::string, HandleRef> handles_;
  std::map<std::string, std::vector<nlohmann::json>> actions_;
  std::map<std::string, int> fds_;
  std::string child_path_;
  ChildTable children_;
  ChildTable subprocess_children_;  // subprocess_exec children, killed and reaped at the end
  std::map<std::string, std::unique_ptr<EventLoop>> other_loops_;  // new_loop
  std::exception_ptr failure_;   // Unsupported/StepError raised inside a callback
  std::shared_ptr<TraceLogger> trace_logger_;
  std::map<std::string, JsonFuture> futures_;
  std::vector<std::thread> late_threads_;  // call_soon_threadsafe_later, joined at the end
  Watchers watchers_;  // steps_watchers.cpp; after children_, so it goes first
  // Unix sockets (steps_sockets.cpp)
  std::map<std::string, std::shared_ptr<Server>> servers_;
  std::optional<rlimit> saved_fd_limit_;  // fd_limit: the limit to restore
  // sendfile (steps_sendfile.cpp)
  std::map<std::string, std::shared_ptr<FileObject>> files_;  // regular_file, memory_file
  std::set<std::string> tls_sockets_;                          // `socket NAME ssl=true`
  std::map<std::string, std::function<bool()>> tasks_;         // async steps with task=NAME
  // transports and read pipes (steps_read_pipe.cpp)
  std::map<std::string, std::shared_ptr<BaseTransport>> transports_;
  std::map<std::string, std::shared_ptr<RecordingProtocol>> protocols_;
  std::map<std::string, int> fd_names_bound_;  // what sync_fd_names told the recorder
  // subprocesses (steps_subprocess.cpp)
  std::map<std::string, std::shared_ptr<BaseSubprocessTransport>> subprocesses_;
  std::map<std::string, std::shared_ptr<RecordingSubprocessProtocol>> subprocess_protocols_;
  std::map<std::string, std::shared_ptr<Process>> processes_;  // create_subprocess_exec
};

}  // namespace loopcheck::ref
