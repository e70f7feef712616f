#include "ui/AboutBox.h"

#include "engine/util/BuildInfo.h"
#include "engine/util/Hardware.h"
#include "ui/HardwareText.h"
#include "ui/Tooltips.h"

#include <QMessageBox>
#include <QObject>

namespace ampbench::ui {

QString guiVersionText() {
  QString qt = QString::fromLatin1(qVersion());
  if (qt != QLatin1String(QT_VERSION_STR)) {
    qt += QStringLiteral(" (built with %1)").arg(QLatin1String(QT_VERSION_STR));
  }
  return QString::fromStdString(ampbench::versionText("ampbench", {{"Qt", qt.toStdString()}}));
}

QString AboutBox::html() {
  QStringList lines = guiVersionText().toHtmlEscaped().split(QLatin1Char('\n'));
  lines.front() = QStringLiteral("<b>%1</b>").arg(lines.front());
  return QObject::tr("%1<br>Mixed-precision training workbench.<br><br>%2<br><br>%3")
      .arg(lines.join(QStringLiteral("<br>")), QString::fromUtf8(tips::kMixedPrecision).toHtmlEscaped(),
           aboutHardwareHtml(ampbench::detectHardware()));
}

void AboutBox::show(QWidget* parent) { QMessageBox::about(parent, QObject::tr("About AmpBench"), html()); }

}  // namespace ampbench::ui
