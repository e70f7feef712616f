#pragma once
// Helpers for tests that drive the whole MainWindow (header-only: the tests link the UI,
// the shared test utility library does not).

#include "ui/MainWindow.h"
#include "ui/RunLoader.h"

#include <QSignalSpy>
#include <QString>
#include <QTest>

namespace ampbench::uitest {

// Waits until the window's RunLoader has delivered what it was reading.
inline bool waitForLoad(ampbench::ui::MainWindow& window, int timeoutMs = 60000) {
  return QTest::qWaitFor([&]() { return !window.loader()->isLoading(); }, timeoutMs);
}

// openPath() and wait until the run or comparison is shown; false when it was refused or
// its files could not be read.
inline bool openAndWait(ampbench::ui::MainWindow& window, const QString& dir, int timeoutMs = 60000) {
  QSignalSpy failed(window.loader(), &ampbench::ui::RunLoader::loadFailed);
  return window.openPath(dir) && waitForLoad(window, timeoutMs) && failed.isEmpty();
}

}  // namespace ampbench::uitest
