// CPython 3.12+'s warnings._deprecated(NAME, ..., remove=(3, 14)) for the child watcher API.
#pragma once

#include <string>

#include "loopcheck/warnings.hpp"

namespace loopcheck::detail {

// DeprecationWarning "'NAME' is deprecated as of Python 3.12 and will be removed in Python 3.14."
inline void warn_deprecated_watcher_api(const std::string& name) {
  warn("'" + name + "' is deprecated as of Python 3.12 and will be removed in Python 3.14.", "DeprecationWarning");
}

}  // namespace loopcheck::detail
