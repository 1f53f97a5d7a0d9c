// UvLoop: a libuv loop owned by one workload. close_handles() must run before the memory of
// the workload's handles goes away (libuv keeps every initialised handle on a list).
#pragma once

#include <uv.h>

#include <stdexcept>
#include <string>

namespace loopcheck::bench::libuv {

class UvLoop {
 public:
  UvLoop() {
    if (int rc = uv_loop_init(&loop_); rc != 0) throw std::runtime_error(std::string("uv_loop_init: ") + uv_strerror(rc));
  }
  ~UvLoop() {
    close_handles();
    uv_loop_close(&loop_);
  }
  UvLoop(const UvLoop&) = delete;
  UvLoop& operator=(const UvLoop&) = delete;

  uv_loop_t* get() noexcept { return &loop_; }

  // Closes every handle and runs the loop until their close callbacks are done.
  void close_handles() noexcept {
    uv_walk(
        &loop_, [](uv_handle_t* h, void*) {
          if (!uv_is_closing(h)) uv_close(h, nullptr);
        },
        nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
  }

 private:
  uv_loop_t loop_;
};

}  // namespace loopcheck::bench::libuv
