// FileObject: the Python file object that loop.sock_sendfile takes, reduced to what it uses
// (mode, fileno(), tell(), seek(), readinto(), close()).
//
// - FdFile is a file opened on an fd (open(path, "rb"), io.FileIO): fileno() is the fd, the
//   position is the fd's own file offset, reads and seeks are read(2) and lseek(2).
// - BytesFile is an in-memory file (io.BytesIO): it has no mode attribute, and fileno()
//   raises io.UnsupportedOperation('fileno'), which makes sock_sendfile fall back.
//
// Errors are Python's: ValueError('I/O operation on closed file') after close(), OSError
// from the system calls (ESPIPE from seeking a pipe, say).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "loopcheck/errors.hpp"

namespace loopcheck {

// io.UnsupportedOperation: both an OSError and a ValueError in Python; here a ValueError
// that also answers is_a("OSError").
class UnsupportedOperation : public ValueError {
 public:
  explicit UnsupportedOperation(std::string message) : ValueError("UnsupportedOperation", std::move(message)) {}

 protected:
  bool class_is_a(std::string_view python_type) const override {
    return python_type == "UnsupportedOperation" || python_type == "OSError" || ValueError::class_is_a(python_type);
  }
};

class FileObject {
 public:
  virtual ~FileObject() = default;

  // file.mode ("rb", "r", ...), or nullopt when the object has none (getattr's default).
  virtual std::optional<std::string> mode() const = 0;
  // file.fileno(); UnsupportedOperation when there is no fd.
  virtual int fileno() const = 0;
  // file.tell() and file.seek(pos) (from the start); seek returns the new position.
  virtual std::int64_t tell() const = 0;
  virtual std::int64_t seek(std::int64_t pos) = 0;
  // file.readinto(buf): bytes read, 0 at the end of the file.
  virtual std::size_t readinto(std::span<char> buf) = 0;
  // file.close(): idempotent; later calls raise ValueError('I/O operation on closed file').
  virtual void close() = 0;
  virtual bool closed() const = 0;
};

// A file on an fd. With `owns_fd` (closefd=True) close() and the destructor close the fd;
// without it the caller keeps the fd (open(fd, closefd=False)).
class FdFile : public FileObject {
 public:
  FdFile(int fd, std::string mode = "rb", bool owns_fd = true) : fd_(fd), mode_(std::move(mode)), owns_fd_(owns_fd) {}
  ~FdFile() override;
  FdFile(const FdFile&) = delete;
  FdFile& operator=(const FdFile&) = delete;

  // open(path, mode): OSError (FileNotFoundError, ...) when it cannot be opened.
  static std::shared_ptr<FdFile> open(const std::string& path, const std::string& mode = "rb");

  std::optional<std::string> mode() const override { return mode_; }
  int fileno() const override;
  std::int64_t tell() const override;
  std::int64_t seek(std::int64_t pos) override;
  std::size_t readinto(std::span<char> buf) override;
  void close() override;
  bool closed() const override { return fd_ < 0; }

 private:
  int fd_;
  std::string mode_;
  bool owns_fd_;
};

// io.BytesIO(data).
class BytesFile : public FileObject {
 public:
  explicit BytesFile(std::string data = {}) : data_(std::move(data)) {}

  std::optional<std::string> mode() const override { return std::nullopt; }
  int fileno() const override;
  std::int64_t tell() const override;
  std::int64_t seek(std::int64_t pos) override;
  std::size_t readinto(std::span<char> buf) override;
  void close() override { closed_ = true; }
  bool closed() const override { return closed_; }
  const std::string& getvalue() const { return data_; }

 private:
  void check_open() const;
  std::string data_;
  std::size_t pos_ = 0;
  bool closed_ = false;
};

}  // namespace loopcheck
