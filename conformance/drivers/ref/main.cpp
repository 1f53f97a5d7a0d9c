// loopcheck-ref-driver: runs one conformance scenario on the C++ reference loop.
//
// Speaks the JSON-lines protocol of conformance/INTERPRETING.md on stdin/stdout: init ->
// init_ok, run -> events, then done, unsupported or error. Steps the reference does not
// support yet are answered with `unsupported` and a reason, never a crash.
#include <signal.h>

#include <iostream>
#include <memory>

#include "loopcheck/errors.hpp"
#include "loopcheck/event_loop.hpp"
#include "loopcheck/logger.hpp"
#include "loopcheck/warnings.hpp"
#include "protocol.hpp"
#include "recorder.hpp"
#include "runner.hpp"

namespace {

using loopcheck::ref::Channel;
using nlohmann::json;

int run(Channel& channel) {
  auto init = channel.receive();
  if (!init || init->value("type", "") != "init") {
    channel.send({{"type", "error"}, {"code", 10}, {"text", "expected an init message first"}});
    return 2;
  }
  // CPython ignores SIGPIPE; a write to a closed pipe must fail with EPIPE here too.
  ::signal(SIGPIPE, SIG_IGN);
  std::unique_ptr<loopcheck::EventLoop> loop;
  try {
    loop = std::make_unique<loopcheck::EventLoop>();
  } catch (const std::exception& e) {
    channel.send({{"type", "error"}, {"in_reply_to", (*init)["msg_id"]}, {"code", 11},
                  {"text", std::string("cannot create the loop: ") + e.what()}});
    return 2;
  }
  channel.send({{"type", "init_ok"}, {"in_reply_to", (*init)["msg_id"]}, {"protocol_version", loopcheck::ref::kProtocolVersion},
                {"implementation", init->value("implementation", "ref")},
                {"versions", {{"loop", "loopcheck-ref"}}}});
  auto run_msg = channel.receive();
  if (!run_msg || run_msg->value("type", "") != "run") {
    channel.send({{"type", "error"}, {"code", 10}, {"text", "expected a run message after init"}});
    return 2;
  }
  json reply = {{"in_reply_to", (*run_msg)["msg_id"]}};
  loopcheck::ref::Recorder recorder(channel);
  recorder.tmpdir = init->value("tmpdir", "");
  recorder.child_path = init->value("child", "");
  auto trace_logger = std::make_shared<loopcheck::ref::TraceLogger>(recorder);
  loopcheck::ScopedLogger scoped_logger(trace_logger);
  // Python's warnings (ResourceWarning from an unclosed transport) as `warning TYPE MESSAGE`.
  loopcheck::ScopedWarningHandler scoped_warnings([&recorder](const loopcheck::WarningRecord& w) {
    recorder.event("warning", {w.category, w.message});
  });
  loop->set_exception_handler([&recorder](loopcheck::EventLoop& l, const loopcheck::ExceptionContext& c) {
    recorder.exception_handler(l, c);
  });
  loopcheck::ref::Runner runner(*loop, recorder, init->value("timeout_multiplier", 1.0));
  runner.set_child_path(init->value("child", ""));
  runner.set_trace_logger(trace_logger);
  int status = 0;
  try {
    runner.execute((*run_msg)["scenario"]["steps"]);
    runner.flush_protocols();  // data still held by recording protocols
    reply["type"] = "done";
  } catch (const loopcheck::ref::Unsupported& e) {
    reply["type"] = "unsupported";
    reply["line"] = recorder.current_line;
    reply["reason"] = e.what();
  } catch (const loopcheck::ref::StepError& e) {
    reply["type"] = "error";
    reply["code"] = 20;
    reply["line"] = recorder.current_line;
    reply["text"] = e.what();
    status = 1;
  } catch (...) {
    reply["type"] = "error";
    reply["code"] = 30;
    reply["line"] = recorder.current_line;
    reply["text"] = "uncaught " + loopcheck::format_exception_only(std::current_exception());
    status = 1;
  }
  recorder.active = false;
  channel.send(reply);
  return status;
}

}  // namespace

int main() {
  Channel channel;
  return run(channel);
}
