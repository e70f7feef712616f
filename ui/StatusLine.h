#pragma once
// One line of plain text for the status bar that changes twice a second during a run without
// relaying out the window. A QLabel's size hint follows its text, so every setText posts a
// layout request that re-measures the main window's widgets (word-wrapped labels included):
// on two cores that GUI time is taken from training (bench/gui_tax). This widget's size hint
// is fixed; a text too long for its width is elided, and the full text is its tool tip.

#include <QString>
#include <QWidget>

namespace ampbench::ui {

class StatusLine : public QWidget {
  Q_OBJECT

 public:
  explicit StatusLine(QWidget* parent = nullptr);

  QString text() const { return text_; }
  // Always in the tool tip, after the full text when that is elided (e.g. the runs folder).
  void setExtraToolTip(const QString& tip) { extraTip_ = tip; }

  QSize sizeHint() const override;
  QSize minimumSizeHint() const override;

 public Q_SLOTS:
  void setText(const QString& text);

 protected:
  void paintEvent(QPaintEvent* event) override;
  bool event(QEvent* event) override;

 private:
  QString text_;
  QString extraTip_;
};

}  // namespace ampbench::ui
