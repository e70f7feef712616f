#pragma once
// Renders a gathered report (ReportData.h) into a PDF with Qt: QPdfWriter at 300 dpi (A4 or
// Letter, title and creator set), one paginated QTextDocument for the text and tables,
// QCustomPlot's own vector drawing for the plots (recorded as QPictures and placed in the
// document as text objects, never bitmaps), and "page N of M" in every footer.
// GUI thread only (QCustomPlot is a widget); the slow gathering runs before, on a worker.

#include "ui/ReportData.h"

#include <QImage>
#include <QPageSize>
#include <QPicture>
#include <QVector>
#include <QString>

namespace ampbench::ui {

struct ReportPage {
  QPageSize::PageSizeId size = QPageSize::A4;
};

// "A4" / "Letter" from "a4" / "letter" (case-insensitive); nullopt for anything else.
std::optional<QPageSize::PageSizeId> parsePageSize(const QString& name);
// The page size where the locale prints on Letter (US, Canada, ...), else A4.
QPageSize::PageSizeId defaultPageSize();

// The report's document before layout: HTML, the plots recorded as vector pictures, the
// images. Made in the GUI thread (QCustomPlot), rendered on any thread.
struct PreparedReport {
  ReportPage page;
  QString title;
  QString name;
  QString html;
  QVector<QPicture> pictures;
  QVector<QPair<QString, QImage>> images;
};
PreparedReport prepareReport(const ReportData& data, const ReportPage& page);
// Lays the document out on the page and writes the PDF (see writeReport). Any thread.
int renderReport(const PreparedReport& report, const QString& path, QString* error);

// prepareReport + renderReport: writes `data` to `path` through a temporary file that is flushed, synced and renamed
// (QSaveFile), so a failed write leaves nothing half-written. Returns the number of pages,
// or 0 with `error` set (e.g. the folder is not writable).
int writeReport(const ReportData& data, const QString& path, const ReportPage& page, QString* error);

// True when `path` can be written (its folder exists and takes a new file); else false
// with a sentence saying what to do. Checked before the slow gathering.
bool checkReportPath(const QString& path, QString* error);

}  // namespace ampbench::ui
