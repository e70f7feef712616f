#include "ui/StatusLine.h"

#include <QEvent>
#include <QHelpEvent>
#include <QPainter>
#include <QStyle>
#include <QToolTip>

namespace ampbench::ui {

StatusLine::StatusLine(QWidget* parent) : QWidget(parent) {
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
  setAttribute(Qt::WA_OpaquePaintEvent, false);
}

QSize StatusLine::sizeHint() const {
  // Room for a typical progress line ("Epoch 12/30 · step 1,234/4,500 · ETA 3:21 · 2,345 img/s").
  return {fontMetrics().averageCharWidth() * 60, fontMetrics().height() + 2};
}

QSize StatusLine::minimumSizeHint() const { return {fontMetrics().averageCharWidth() * 10, fontMetrics().height() + 2}; }

void StatusLine::setText(const QString& text) {
  if (text == text_) {
    return;
  }
  text_ = text;
  update();  // a repaint of this line only: the size hint does not change
}

void StatusLine::paintEvent(QPaintEvent*) {
  QPainter p(this);
  const QRect r = contentsRect().adjusted(2, 0, -2, 0);
  p.setPen(palette().color(QPalette::WindowText));
  p.drawText(r, Qt::AlignLeft | Qt::AlignVCenter, fontMetrics().elidedText(text_, Qt::ElideRight, r.width()));
}

bool StatusLine::event(QEvent* e) {
  if (e->type() == QEvent::ToolTip) {
    const auto* help = static_cast<QHelpEvent*>(e);
    const bool elided = fontMetrics().horizontalAdvance(text_) > contentsRect().width() - 4;
    QString tip = elided ? text_ : QString();
    if (!extraTip_.isEmpty()) {
      tip += (tip.isEmpty() ? QString() : QStringLiteral("\n")) + extraTip_;
    }
    if (tip.isEmpty()) {
      QToolTip::hideText();
      e->ignore();
    } else {
      QToolTip::showText(help->globalPos(), tip, this);
    }
    return true;
  }
  return QWidget::event(e);
}

}  // namespace ampbench::ui
