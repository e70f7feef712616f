#pragma once
// "Open run (follow)…" and `ampbench --follow DIR`: a RunFollower wired into the main
// window. A reset (the first read, or a log a resume rewrote) redraws the live plots and
// the Precision tab from everything read; new rows are added as a live run's events are.
// The status bar says how fresh the rows are; when metrics.json appears the run shows
// as ended (and its Results tab loads). Training, opening another run, or File ▸ Stop
// following ends the following. The folder dialog is injectable for tests.

#include <QObject>
#include <QString>

#include <functional>

class QAction;
class QMenu;

namespace ampbench::ui {

class MainWindow;
class RunFollower;
struct FollowUpdate;
struct RunEntry;

class FollowDriver : public QObject {
  Q_OBJECT

 public:
  using ChooseFolder = std::function<QString(const QString& startDir)>;

  explicit FollowDriver(MainWindow* window);

  RunFollower* follower() const { return follower_; }
  void setChooseFolder(ChooseFolder choose) { chooseFolder_ = std::move(choose); }
  // "Open run (follow)…" and "Stop following", appended to `menu`.
  void addMenuActions(QMenu* menu);

 public Q_SLOTS:
  void follow(const QString& dir);
  void followWithDialog();
  void stop();

 private:
  void apply(const FollowUpdate& u);
  void ended(const RunEntry& entry);

  MainWindow* window_ = nullptr;
  RunFollower* follower_ = nullptr;
  ChooseFolder chooseFolder_;
};

}  // namespace ampbench::ui
