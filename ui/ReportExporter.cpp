#include "ui/ReportExporter.h"

#include "engine/util/Errors.h"

#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QProgressDialog>
#include <QSettings>
#include <QtConcurrent>

#include <exception>

namespace ampbench::ui {
namespace {

const char* const kLastDirKey = "report/lastDir";

}  // namespace

ReportExporter::ReportExporter(QWidget* window) : QObject(window), window_(window) {
  connect(&gatherWatcher_, &QFutureWatcher<Gathered>::finished, this, &ReportExporter::gathered);
  connect(&writeWatcher_, &QFutureWatcher<Written>::finished, this, &ReportExporter::written);
}

ReportExporter::~ReportExporter() {
  cancel_.cancel();
  gatherWatcher_.waitForFinished();
  writeWatcher_.waitForFinished();
}

void ReportExporter::exportWithDialog(const QString& dir) {
  if (busy_) {
    emit message(tr("A report is being written already."), true);
    return;
  }
  if (dir.isEmpty() || !QFileInfo(dir).isDir()) {
    emit message(tr("Nothing to report yet: train a model (or open a run or comparison) first."), true);
    return;
  }
  const QString a4 = tr("PDF, A4 pages (*.pdf)");
  const QString letter = tr("PDF, Letter pages (*.pdf)");
  QString filter = defaultPageSize() == QPageSize::Letter ? letter : a4;
  QSettings settings;
  const QString folder = settings.value(QLatin1String(kLastDirKey), QDir::homePath()).toString();
  QString path = QFileDialog::getSaveFileName(window_, tr("Export report"),
                                              QDir(folder).filePath(QFileInfo(dir).fileName() + QStringLiteral("-report.pdf")),
                                              a4 + QStringLiteral(";;") + letter, &filter);
  if (path.isEmpty()) {
    return;
  }
  if (QFileInfo(path).suffix().isEmpty()) {
    path += QStringLiteral(".pdf");
  }
  settings.setValue(QLatin1String(kLastDirKey), QFileInfo(path).absolutePath());
  start(dir, path, ReportPage{filter == letter ? QPageSize::Letter : QPageSize::A4});
}

bool ReportExporter::start(const QString& dir, const QString& path, const ReportPage& page,
                           const ReportOptions& options) {
  if (busy_) {
    emit message(tr("A report is being written already."), true);
    return false;
  }
  QString error;
  if (!checkReportPath(path, &error)) {
    emit message(tr("Report not written: %1").arg(error), true);
    emit finished(false, path, 0);
    return false;
  }
  busy_ = true;
  path_ = path;
  page_ = page;
  cancel_ = ampbench::CancelToken{};
  if (window_) {
    progress_ = new QProgressDialog(tr("Gathering the report…"), tr("Cancel"), 0, 100, window_);
    progress_->setWindowTitle(tr("Export report"));
    progress_->setWindowModality(Qt::WindowModal);
    progress_->setMinimumDuration(300);
    progress_->setAutoClose(false);
    progress_->setAutoReset(false);
    progress_->setValue(0);
    connect(progress_, &QProgressDialog::canceled, this, &ReportExporter::cancel);
  }
  emit message(tr("Writing the report of %1…").arg(QFileInfo(dir).fileName()), false);

  const ampbench::CancelToken token = cancel_;
  QPointer<ReportExporter> self(this);
  // Called on the worker: hops to the GUI thread to move the dialog.
  const ReportProgress onProgress = [self](const QString& what, double fraction) {
    QMetaObject::invokeMethod(
        self.data(),
        [self, what, fraction]() {
          if (!self) {
            return;
          }
          emit self->progressed(what, fraction);
          if (self->progress_) {
            self->progress_->setLabelText(what);
            if (fraction >= 0) {
              self->progress_->setValue(static_cast<int>(fraction * 100));
            }
          }
        },
        Qt::QueuedConnection);
  };
  gatherWatcher_.setFuture(QtConcurrent::run([dir, options, onProgress, token]() {
    Gathered g;
    try {
      g.data = gatherReport(dir, options, onProgress, token);
    } catch (const ampbench::CancelledError&) {
      g.cancelled = true;
    } catch (const std::exception& e) {
      g.error = QString::fromStdString(e.what());
    }
    g.cancelled = g.cancelled || token.isCancelled();
    return g;
  }));
  return true;
}

void ReportExporter::cancel() {
  cancel_.cancel();
  if (progress_) {
    progress_->setLabelText(tr("Cancelling…"));
  }
}

void ReportExporter::gathered() {
  Gathered g = gatherWatcher_.result();
  if (g.cancelled || cancel_.isCancelled()) {  // also when Cancel came after the worker's last look
    finish(false, tr("Report cancelled: nothing was written."), 0);
    return;
  }
  if (!g.error.isEmpty()) {
    finish(false, tr("Report not written: %1").arg(g.error), 0);
    return;
  }
  if (progress_) {
    // Writing takes a moment and cannot stop half-way: no Cancel from here on.
    progress_->setLabelText(tr("Drawing the plots and writing the PDF…"));
    progress_->setCancelButton(nullptr);
  }
  pseudonymized_ = g.data.pseudonymized;
  // The plots are QCustomPlot widgets: recorded here, in the GUI thread; the layout and the
  // file are written on a worker.
  PreparedReport prepared = prepareReport(g.data, page_);
  const QString path = path_;
  writeWatcher_.setFuture(QtConcurrent::run([prepared, path]() {
    Written w;
    w.pages = renderReport(prepared, path, &w.error);
    return w;
  }));
}

void ReportExporter::written() {
  const Written w = writeWatcher_.result();
  if (w.pages == 0) {
    finish(false, tr("Report not written: %1").arg(w.error), 0);
    return;
  }
  finish(true,
         tr("Report written: %1 (%n page(s)%2).", nullptr, w.pages)
             .arg(QDir::toNativeSeparators(path_), pseudonymized_ ? tr(", file names pseudonymized") : QString()),
         w.pages);
}

void ReportExporter::finish(bool ok, const QString& text, int pages) {
  busy_ = false;
  if (progress_) {
    progress_->close();
    progress_->deleteLater();
  }
  emit message(text, !ok);
  emit finished(ok, path_, pages);
}

}  // namespace ampbench::ui
