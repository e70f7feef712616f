// The status bar's progress line: a new text repaints the line and posts no layout request to
// the window (a QLabel's does: its size hint follows its text), and a text too long for the
// width is elided with the full text as the tool tip.

#include "ui/StatusLine.h"

#include <QEvent>
#include <QHBoxLayout>
#include <QLabel>
#include <QTest>
#include <QToolTip>

using ampbench::ui::StatusLine;

namespace {

// Counts the layout requests a widget receives.
class LayoutRequests : public QObject {
 public:
  int count = 0;

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override {
    if (event->type() == QEvent::LayoutRequest) {
      ++count;
    }
    return QObject::eventFilter(watched, event);
  }
};

}  // namespace

class StatusLineTest : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void aNewTextDoesNotRelayoutTheWindow() {
    QWidget window;
    auto* layout = new QHBoxLayout(&window);
    auto* line = new StatusLine;
    auto* label = new QLabel(QStringLiteral("x"));
    layout->addWidget(line, 1);
    layout->addWidget(label);
    window.resize(600, 40);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    LayoutRequests requests;
    window.installEventFilter(&requests);
    QCoreApplication::processEvents();
    requests.count = 0;

    const QSize hint = line->sizeHint();
    for (int i = 0; i < 20; ++i) {
      line->setText(QStringLiteral("Epoch %1/30 · step %2/4500 · ETA 3:%3 · 2,345 img/s").arg(i).arg(i * 150).arg(i + 10));
      QCoreApplication::processEvents();
    }
    QCOMPARE(line->sizeHint(), hint);
    QCOMPARE(requests.count, 0);
    QVERIFY(line->text().startsWith(QStringLiteral("Epoch 19/30")));

    // The control: a QLabel's new text does post one (what the status line avoids).
    label->setText(QStringLiteral("a much longer text than before"));
    QCoreApplication::processEvents();
    QVERIFY(requests.count > 0);
  }

  void aLongTextIsElidedWithTheFullTextAsToolTip() {
    StatusLine line;
    line.resize(120, 24);
    line.setExtraToolTip(QStringLiteral("Runs folder: /tmp/runs"));
    line.show();
    QVERIFY(QTest::qWaitForWindowExposed(&line));
    const QString text = QStringLiteral("Comparison run 2 of 2 (BF16 mixed) · Epoch 1/2 · step 10/30 · ETA 0:10");
    line.setText(text);
    QHelpEvent help(QEvent::ToolTip, QPoint(5, 5), line.mapToGlobal(QPoint(5, 5)));
    QCoreApplication::sendEvent(&line, &help);
    QTRY_VERIFY(QToolTip::isVisible());
    QCOMPARE(QToolTip::text(), text + QStringLiteral("\nRuns folder: /tmp/runs"));
    QToolTip::hideText();
    // Short enough to show whole: only the extra tip.
    line.resize(2000, 24);
    line.setText(QStringLiteral("Ready"));
    QCoreApplication::sendEvent(&line, &help);
    QTRY_VERIFY(QToolTip::isVisible());
    QCOMPARE(QToolTip::text(), QStringLiteral("Runs folder: /tmp/runs"));
  }
};

QTEST_MAIN(StatusLineTest)
#include "StatusLineTest.moc"
