#include "recorder.hpp"

#include <utility>

#include "loopcheck/errors.hpp"

namespace loopcheck::ref {
namespace {

// str(value) as the Python driver renders watched events.
std::string text_of(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "True" : "False";
  if (v.is_null()) return "None";
  return v.dump();
}

// Every occurrence of `path` in the string arguments becomes `name`.
void replace_path(nlohmann::json& args, const std::string& path, const char* name) {
  if (path.empty()) return;
  for (auto& a : args) {
    if (!a.is_string()) continue;
    std::string text = a.get<std::string>();
    const std::string_view with(name);
    for (auto at = text.find(path); at != std::string::npos; at = text.find(path, at + with.size()))
      text.replace(at, path.size(), with);
    a = text;
  }
}

}  // namespace

void Recorder::bind_fd(int fd, std::string name) {
  std::lock_guard lock(mu_);
  fd_names_[fd] = std::move(name);
}

std::string Recorder::fd_name(int fd) const {
  auto it = fd_names_.find(fd);
  return it == fd_names_.end() ? "?" : it->second;
}

std::string Recorder::symbolic(std::string text) const {
  if (text.find("0x") != std::string::npos) {
    static const std::regex address("0x[0-9a-fA-F]+");
    text = std::regex_replace(text, address, "0x?");
  }
  if (text.find("fd=") == std::string::npos && text.find("File descriptor ") == std::string::npos) return text;
  static const std::regex fd_number(R"(\b(fd=|File descriptor )(\d+))");
  std::string out;
  auto last = text.cbegin();
  for (std::sregex_iterator it(text.begin(), text.end(), fd_number), end; it != end; ++it) {
    const std::smatch& m = *it;
    out.append(last, m[0].first);
    out += m[1].str() + fd_name(std::stoi(m[2].str()));
    last = m[0].second;
  }
  out.append(last, text.cend());
  return out;
}

void Recorder::bind_pid(pid_t pid, std::string name) {
  std::lock_guard lock(mu_);
  pid_names_[pid] = std::move(name);
}

void Recorder::event(const std::string& kind, nlohmann::json args) {
  std::lock_guard lock(mu_);
  if (!active) return;
  // The scenario's directory and the child program become $TMP and $CHILD first
  // (INTERPRETING.md 4), as in the Python driver: a random directory name may hold "0x" and
  // hex digits, which the address rule would rewrite.
  replace_path(args, tmpdir, "$TMP");
  replace_path(args, child_path, "$CHILD");
  for (auto& a : args)
    if (a.is_string()) a = symbolic(a.get<std::string>());
  for (const auto& [pid, name] : pid_names_) {
    std::regex number("\\b" + std::to_string(pid) + "\\b");
    for (auto& a : args)
      if (a.is_string()) a = std::regex_replace(a.get<std::string>(), number, name);
  }
  std::string text = kind;
  for (const auto& a : args) text += " " + text_of(a);
  channel_.send({{"type", "event"}, {"line", current_line}, {"event", kind}, {"args", args}});
  texts_.push_back(text);
  if (watch_ && std::regex_match(text, watch_->pattern)) {
    auto hit = std::move(watch_->hit);
    watch_.reset();
    consumed_ = texts_.size();
    hit();
  }
}

void Recorder::raised(const std::string& op, const std::exception_ptr& error) {
  event("raised", {op, exception_type_name(error), exception_message(error)});
}

void Recorder::returned(const std::string& op, nlohmann::json values) {
  nlohmann::json args = nlohmann::json::array({op});
  for (auto& v : values) args.push_back(v);
  event("returned", std::move(args));
}

bool Recorder::seen(const std::regex& pattern) {
  std::lock_guard lock(mu_);
  for (std::size_t i = consumed_; i < texts_.size(); ++i) {
    if (std::regex_match(texts_[i], pattern)) {
      consumed_ = i + 1;
      return true;
    }
  }
  return false;
}

void Recorder::watch(std::regex pattern, std::function<void()> hit) {
  std::lock_guard lock(mu_);
  watch_ = Watch{std::move(pattern), std::move(hit)};
}

void Recorder::exception_handler(EventLoop&, const ExceptionContext& context) {
  std::string keys;
  for (const auto& k : context.keys()) keys += (keys.empty() ? "" : ",") + k;
  nlohmann::json args = {context.message.value_or("")};
  if (context.exception) {
    args.push_back(exception_type_name(context.exception));
    args.push_back(exception_message(context.exception));
  } else {
    args.push_back("None");
    args.push_back("");
  }
  args.push_back(keys);
  event("exception_handler", std::move(args));
}

std::vector<std::string> TraceLogger::take(bool warnings) {
  return std::exchange(warnings ? warnings_ : debug_, {});
}

void TraceLogger::log(const LogRecord& record) {
  if (collecting_) {
    // Measured durations ("took 0.151 seconds") vary from run to run.
    static const std::regex duration(R"(\b\d+\.\d{3} seconds\b)");
    std::string text = std::regex_replace(record.message, duration, "#.### seconds");
    (record.level >= LogLevel::WARNING ? warnings_ : debug_).push_back(std::move(text));
  }
  if (record.level < LogLevel::WARNING) return;
  nlohmann::json args = {std::string(log_level_name(record.level)), record.message};
  if (!record.exc_text.empty()) {
    auto colon = record.exc_text.find(": ");
    if (colon == std::string::npos) {
      args.push_back(record.exc_text);
      args.push_back("");
    } else {
      args.push_back(record.exc_text.substr(0, colon));
      args.push_back(record.exc_text.substr(colon + 2));
    }
  }
  recorder_.event("log", std::move(args));
}

std::regex glob_regex(const std::string& glob) {
  std::string re;
  for (char c : glob) {
    if (c == '*') {
      re += "[\\s\\S]*";
    } else if (std::string("\\^$.|?+()[]{}").find(c) != std::string::npos) {
      re += '\\';
      re += c;
    } else {
      re += c;
    }
  }
  return std::regex(re);
}

}  // namespace loopcheck::ref
