#pragma once
// Stopping a run without freezing the window and without losing one to a stray key.
//
// requestStop() is what Stop, Run ▸ Stop and Esc do: a run with more than a minute of
// training asks first (Esc is easy to hit by accident); a shorter one stops at once.
//
// closeRequested() is the window's close during a run. The engine stops at the end of its
// current step, and a ResNet-18 step on a CPU takes seconds, so nothing waits for it on
// the GUI thread: the window shows "Stopping…" (StoppingBar, not modal), stays responsive
// and closes itself when the worker ends. After a few seconds the bar offers "Quit now",
// which leaves at once: safe, because the engine writes checkpoints to a temporary file and
// renames it, and steps.csv/epochs.csv are append-only — quitting mid-step loses at most
// the steps since the last checkpoint (the current partial epoch).

#include <QElapsedTimer>
#include <QFrame>
#include <QObject>
#include <QPointer>
#include <QTimer>

#include <functional>

class QLabel;
class QMessageBox;
class QProgressBar;
class QPushButton;

namespace ampbench::ui {

class TrainingController;

// The "Stopping…" strip shown while the window waits for the engine's step to end.
class StoppingBar : public QFrame {
  Q_OBJECT

 public:
  explicit StoppingBar(QWidget* parent = nullptr);

  // Shows the "Quit now" button and what quitting costs.
  void offerQuitNow();
  void reset();
  QPushButton* quitNowButton() const { return quitNow_; }
  QString text() const;

 Q_SIGNALS:
  void quitNowClicked();

 private:
  QLabel* label_ = nullptr;
  QLabel* note_ = nullptr;
  QProgressBar* busy_ = nullptr;
  QPushButton* quitNow_ = nullptr;
};

class RunStopper : public QObject {
  Q_OBJECT

 public:
  // `window` parents the questions and is closed once a stop for closing has ended.
  RunStopper(TrainingController* controller, QWidget* window);

  StoppingBar* bar() const { return bar_; }

  // Training time after which a stop asks first (default 60 s; tests use 0).
  void setConfirmAfterSeconds(int seconds) { confirmAfterSeconds_ = seconds; }
  // Closing during a run asks "Stop the run?" first (off in tests and the scripted mode).
  void setConfirmClose(bool confirm) { confirmClose_ = confirm; }
  // How long the bar waits before it offers "Quit now" (default 3 s).
  void setQuitNowDelayMs(int ms) { quitTimer_.setInterval(ms); }
  // What "Quit now" does after beforeQuit() (the window's settings): std::_Exit(0) by
  // default — the worker is mid-step and nothing may wait for it. Tests record the call.
  void setQuitNow(std::function<void()> quit) { quitNow_ = std::move(quit); }
  void setBeforeQuit(std::function<void()> save) { beforeQuit_ = std::move(save); }

  void requestStop();
  // For closeEvent: true when the window may close now (no run); false when the close
  // waits (a question or the "Stopping…" state) — the window closes itself later.
  bool closeRequested();

  bool isStoppingToClose() const { return stoppingToClose_; }
  // The open "Stop the run?" question, if any (tests answer it).
  QMessageBox* question() const { return question_; }
  // Seconds the current job has run (0 when idle).
  double runSeconds() const;

 Q_SIGNALS:
  // The run was asked to stop after its current step.
  void stopped();
  // Closing: the run was asked to stop and the window waits for it.
  void closing();

 private:
  void ask(const QString& title, const QString& text, std::function<void()> onYes);
  void stopNow();
  void beginClosing();
  void jobIdle();

  TrainingController* controller_;
  QWidget* window_;
  StoppingBar* bar_;
  QTimer quitTimer_;
  QElapsedTimer runClock_;
  QPointer<QMessageBox> question_;
  std::function<void()> quitNow_;
  std::function<void()> beforeQuit_;
  int confirmAfterSeconds_ = 60;
  bool confirmClose_ = true;
  bool stoppingToClose_ = false;
};

}  // namespace ampbench::ui
