#pragma once
#include <stdexcept>
#include <string>

namespace ampbench {

// Bad input the user can fix (missing folder, one class, unknown model...). The CLI maps
// it to exit code 2; the GUI shows the message inline. The message says what to do.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The loss became NaN/inf in a mode without loss scaling: the run stopped cleanly and
// the last good checkpoint was kept. CLI exit code 3.
class DivergedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The user cancelled a long operation through its CancelToken (e.g. a dataset scan).
// Nothing was lost; callers that report status turn it into "cancelled", not an error.
class CancelledError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace ampbench
