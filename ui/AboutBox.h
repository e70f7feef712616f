#pragma once
// Help -> About and `ampbench --version`: one text, so the two never disagree.

#include <QString>

class QWidget;

namespace ampbench::ui {

// versionText("ampbench") from the engine plus the Qt this process runs with (and was built against).
QString guiVersionText();

class AboutBox {
 public:
  static QString html();  // the version lines, what mixed precision is, this machine's hardware
  static void show(QWidget* parent);
};

}  // namespace ampbench::ui
