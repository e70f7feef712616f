#pragma once
// File → Export report…: asks where to save the PDF (the file type picks A4 or Letter),
// gathers the report on a worker thread (evaluation and Grad-CAM are slow) behind a
// progress dialog with Cancel, records the plots in the GUI thread (QCustomPlot is a
// widget), and lays out and writes the PDF on a worker again. Says how it went through
// message(): MainWindow shows it in the status bar.

#include "engine/util/CancelToken.h"
#include "ui/ReportData.h"
#include "ui/ReportWriter.h"

#include <QFutureWatcher>
#include <QObject>
#include <QPointer>
#include <QString>

class QProgressDialog;
class QWidget;

namespace ampbench::ui {

class ReportExporter : public QObject {
  Q_OBJECT

 public:
  explicit ReportExporter(QWidget* window);
  ~ReportExporter() override;

  bool isBusy() const { return busy_; }

 public Q_SLOTS:
  // Asks for the file (and page size), then starts. `dir`: a run or comparison folder.
  void exportWithDialog(const QString& dir);
  // Starts without asking (tests, scripted use). Returns false (and emits message) when
  // busy or the path cannot be written.
  bool start(const QString& dir, const QString& path, const ampbench::ui::ReportPage& page,
             const ampbench::ui::ReportOptions& options = {});
  void cancel();

 Q_SIGNALS:
  void message(const QString& text, bool error);
  void progressed(const QString& what, double fraction);
  void finished(bool ok, const QString& path, int pages);

 private:
  struct Gathered {
    ReportData data;
    QString error;
    bool cancelled = false;
  };
  struct Written {
    int pages = 0;
    QString error;
  };
  void gathered();
  void written();
  void finish(bool ok, const QString& text, int pages);

  QWidget* window_;
  QPointer<QProgressDialog> progress_;
  QFutureWatcher<Gathered> gatherWatcher_;
  QFutureWatcher<Written> writeWatcher_;
  ampbench::CancelToken cancel_;
  QString path_;
  ReportPage page_;
  bool busy_ = false;
  bool pseudonymized_ = false;
};

}  // namespace ampbench::ui
