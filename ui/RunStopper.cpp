#include "ui/RunStopper.h"

#include "ui/TrainingController.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QVBoxLayout>

#include <cstdio>
#include <cstdlib>

namespace ampbench::ui {

StoppingBar::StoppingBar(QWidget* parent) : QFrame(parent) {
  setObjectName(QStringLiteral("stoppingBar"));
  setStyleSheet(QStringLiteral("#stoppingBar { background: #eef3fb; border: 1px solid #b9cbe6; }"));
  auto* column = new QVBoxLayout(this);
  column->setContentsMargins(8, 6, 8, 6);
  auto* row = new QHBoxLayout;
  label_ = new QLabel(tr("<b>Stopping…</b> the run ends after its current step (a large model's step on a CPU can "
                         "take several seconds), then AmpBench closes."),
                      this);
  label_->setWordWrap(true);
  busy_ = new QProgressBar(this);
  busy_->setRange(0, 0);
  busy_->setMaximumWidth(120);
  busy_->setTextVisible(false);
  quitNow_ = new QPushButton(tr("Quit now"), this);
  quitNow_->setObjectName(QStringLiteral("quitNowButton"));
  quitNow_->setToolTip(tr("Leave without waiting for the step to end."));
  row->addWidget(label_, 1);
  row->addWidget(busy_);
  row->addWidget(quitNow_);
  column->addLayout(row);
  note_ = new QLabel(tr("<small>Quitting now is safe: the last checkpoint was written whole (to a temporary file, then "
                        "renamed) and the CSV logs are append-only, so the run loses at most the steps since its last "
                        "checkpoint — the current partial epoch — and can be resumed.</small>"),
                     this);
  note_->setWordWrap(true);
  column->addWidget(note_);
  connect(quitNow_, &QPushButton::clicked, this, &StoppingBar::quitNowClicked);
  reset();
}

void StoppingBar::offerQuitNow() {
  quitNow_->setVisible(true);
  note_->setVisible(true);
}

void StoppingBar::reset() {
  quitNow_->setVisible(false);
  note_->setVisible(false);
  setVisible(false);
}

QString StoppingBar::text() const { return label_->text() + (note_->isVisible() ? QLatin1Char(' ') + note_->text() : QString()); }

RunStopper::RunStopper(TrainingController* controller, QWidget* window)
    : QObject(window), controller_(controller), window_(window), bar_(new StoppingBar(window)) {
  quitTimer_.setSingleShot(true);
  quitTimer_.setInterval(3000);
  connect(&quitTimer_, &QTimer::timeout, bar_, &StoppingBar::offerQuitNow);
  quitNow_ = []() {
    std::fflush(nullptr);
    std::_Exit(0);  // not exit(): static destructors would race the engine's thread
  };
  connect(bar_, &StoppingBar::quitNowClicked, this, [this]() {
    if (beforeQuit_) {
      beforeQuit_();
    }
    quitNow_();
  });
  connect(controller_, &TrainingController::busyChanged, this, [this](bool busy) {
    if (busy) {
      runClock_.start();
    } else {
      jobIdle();
    }
  });
}

double RunStopper::runSeconds() const {
  return controller_->isBusy() && runClock_.isValid() ? runClock_.elapsed() / 1000.0 : 0.0;
}

void RunStopper::requestStop() {
  if (!controller_->isBusy() || controller_->isCancelRequested() || question_) {
    return;
  }
  if (runSeconds() < confirmAfterSeconds_) {
    stopNow();
    return;
  }
  const int minutes = static_cast<int>(runSeconds() / 60.0);
  ask(tr("Stop the run?"),
      tr("This run has been training for %n minute(s). Stop it after the current step? The run directory keeps "
         "what was done so far.",
         nullptr, minutes),
      [this]() { stopNow(); });
}

bool RunStopper::closeRequested() {
  if (!controller_->isBusy()) {
    return true;
  }
  if (stoppingToClose_ || question_) {
    return false;  // already on the way out (or asking)
  }
  if (!confirmClose_) {
    beginClosing();
    return false;
  }
  ask(tr("Stop the run?"),
      tr("A run is in progress. Stop it and quit? The run directory keeps what was done so far."),
      [this]() { beginClosing(); });
  return false;
}

void RunStopper::ask(const QString& title, const QString& text, std::function<void()> onYes) {
  // Window-modal and asynchronous (open(), not exec()): the event loop keeps turning and
  // the run keeps training while the question is up.
  auto* box = new QMessageBox(QMessageBox::Question, title, text, QMessageBox::Yes | QMessageBox::No, window_);
  box->setDefaultButton(QMessageBox::No);
  box->setEscapeButton(QMessageBox::No);
  box->setAttribute(Qt::WA_DeleteOnClose);
  question_ = box;
  connect(box, &QMessageBox::finished, this, [this, box, onYes = std::move(onYes)](int) {
    const bool yes = box->standardButton(box->clickedButton()) == QMessageBox::Yes;
    question_ = nullptr;
    if (yes && controller_->isBusy()) {
      onYes();
    }
  });
  box->open();
}

void RunStopper::stopNow() {
  controller_->cancel();
  Q_EMIT stopped();
}

void RunStopper::beginClosing() {
  stoppingToClose_ = true;
  controller_->cancel();
  Q_EMIT closing();
  bar_->setVisible(true);
  quitTimer_.start();
}

void RunStopper::jobIdle() {
  if (question_) {
    question_->done(QMessageBox::No);  // the question is moot: the run has ended
  }
  quitTimer_.stop();
  if (stoppingToClose_) {
    stoppingToClose_ = false;
    bar_->reset();
    // After the handlers of the job's end (the run's last plots, the runs list) have run.
    QTimer::singleShot(0, window_, [w = QPointer<QWidget>(window_)]() {
      if (w) {
        w->close();
      }
    });
  }
}

}  // namespace ampbench::ui
