// FdFile and BytesFile: Python's FileIO/BufferedReader and BytesIO as sock_sendfile uses them.
#include "loopcheck/file_object.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace loopcheck {
namespace {

[[noreturn]] void raise_closed_file() { throw ValueError("I/O operation on closed file"); }

// open() flags for a Python file mode: "rb", "wb", "ab", "r+b" ...
int open_flags(const std::string& mode) {
  bool plus = mode.find('+') != std::string::npos;
  if (mode.find('w') != std::string::npos) return (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_TRUNC;
  if (mode.find('a') != std::string::npos) return (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_APPEND;
  return plus ? O_RDWR : O_RDONLY;
}

}  // namespace

// ---- FdFile ----------------------------------------------------------------------------

FdFile::~FdFile() {
  if (owns_fd_ && fd_ >= 0) ::close(fd_);
}

std::shared_ptr<FdFile> FdFile::open(const std::string& path, const std::string& mode) {
  int fd = ::open(path.c_str(), open_flags(mode) | O_CLOEXEC, 0666);
  if (fd < 0) OSError::raise_errno(errno);
  return std::make_shared<FdFile>(fd, mode, true);
}

int FdFile::fileno() const {
  if (fd_ < 0) raise_closed_file();
  return fd_;
}

std::int64_t FdFile::tell() const {
  off_t pos = ::lseek(fileno(), 0, SEEK_CUR);
  if (pos < 0) OSError::raise_errno(errno);
  return pos;
}

std::int64_t FdFile::seek(std::int64_t pos) {
  off_t now = ::lseek(fileno(), static_cast<off_t>(pos), SEEK_SET);
  if (now < 0) OSError::raise_errno(errno);
  return now;
}

// FileIO.readinto: one read(2), retried on EINTR as Python does (PEP 475).
std::size_t FdFile::readinto(std::span<char> buf) {
  int fd = fileno();
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) OSError::raise_errno(errno);
  }
}

void FdFile::close() {
  if (fd_ < 0) return;
  int fd = std::exchange(fd_, -1);
  if (owns_fd_ && ::close(fd) < 0 && errno != EINTR) OSError::raise_errno(errno);
}

// ---- BytesFile -------------------------------------------------------------------------

void BytesFile::check_open() const {
  if (closed_) raise_closed_file();
}

// IOBase.fileno: unsupported whether open or closed.
int BytesFile::fileno() const {
  throw UnsupportedOperation("fileno");
}

std::int64_t BytesFile::tell() const {
  check_open();
  return static_cast<std::int64_t>(pos_);
}

std::int64_t BytesFile::seek(std::int64_t pos) {
  check_open();
  if (pos < 0) throw ValueError("negative seek value " + std::to_string(pos));
  pos_ = static_cast<std::size_t>(pos);
  return pos;
}

std::size_t BytesFile::readinto(std::span<char> buf) {
  check_open();
  if (pos_ >= data_.size()) return 0;
  std::size_t n = std::min(buf.size(), data_.size() - pos_);
  std::memcpy(buf.data(), data_.data() + pos_, n);
  pos_ += n;
  return n;
}

}  // namespace loopcheck
