#include "ui/DataPanel.h"

#include "engine/data/Dataset.h"
#include "engine/util/Errors.h"

#include <QComboBox>
#include <QDir>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMenu>
#include <QMimeData>
#include <QPixmap>
#include <QtMath>
#include <QProgressBar>
#include <QPromise>
#include <QSettings>
#include <QTableWidget>
#include <QToolButton>
#include <QVBoxLayout>
#include <QtConcurrent>

#include <exception>

namespace ampbench::ui {
namespace {

const char* const kRecentKey = "data/recent";

QImage toQImage(const ampbench::Image8& img) {
  if (img.width <= 0 || img.height <= 0 || img.pixels.empty()) {
    return {};
  }
  const QImage::Format format = img.channels == 3 ? QImage::Format_RGB888 : QImage::Format_Grayscale8;
  const QImage view(img.pixels.data(), img.width, img.height, img.width * img.channels, format);
  return view.copy();  // own the pixels
}

bool acceptablePath(const QString& path) {
  const QFileInfo info(path);
  return info.isDir() || (info.isFile() && info.suffix().compare(QLatin1String("npz"), Qt::CaseInsensitive) == 0);
}

// Where the file dialogs start: the data shown, else the most recently used (QSettings, kept
// under XDG_CONFIG_HOME), else the home folder — not the working directory a menu launch inherits.
QString dialogStartDir(const QString& shown) {
  if (!shown.isEmpty()) {
    return shown;
  }
  const QStringList recent = QSettings().value(QLatin1String(kRecentKey)).toStringList();
  return recent.isEmpty() ? QDir::homePath() : recent.front();
}

}  // namespace

ScanResult scanForPanel(const QString& path, const std::function<void(const ampbench::DataProgressEvent&)>& progress,
                        int thumbnailsPerClass, int thumbnailSize, const ampbench::CancelToken& cancel) {
  ScanResult r;
  r.path = path;
  try {
    const ampbench::DatasetIndex index =
        ampbench::scanDataset(path.toStdString(), ampbench::SplitOptions{}, progress, cancel);
    r.summary.source = index.source;
    r.summary.kind = index.kind;
    r.summary.classes = index.classes;
    r.summary.counts = ampbench::countPerClass(index);
    for (const auto& [name, split] : index.splits) {
      r.summary.splitOrigin[name] = split.origin;
    }
    r.summary.skipped = index.skipped;
    for (const auto& t : ampbench::sampleThumbnails(index, thumbnailsPerClass, thumbnailSize, cancel)) {
      QImage image = toQImage(t.image);
      if (!image.isNull()) {
        r.thumbnails.push_back({static_cast<int>(t.label), image});
      }
    }
  } catch (const ampbench::CancelledError&) {
    r.cancelled = true;
    r.error = QObject::tr("Scan cancelled.");
  } catch (const ampbench::InputError& e) {
    r.error = QString::fromStdString(e.what());
  } catch (const std::exception& e) {
    r.error = QObject::tr("Could not read this dataset: %1").arg(QString::fromStdString(e.what()));
  }
  return r;
}

DataPanel::DataPanel(QWidget* parent) : QWidget(parent) {
  setAcceptDrops(true);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(6, 6, 6, 6);

  auto* title = new QLabel(tr("<b>1. Data</b> — a folder with one sub-folder per class (or train/ val/ test/ "
                              "holding them), or a MedMNIST .npz. You can also drop it here."),
                           this);
  title->setWordWrap(true);
  layout->addWidget(title);

  auto* row = new QHBoxLayout;
  pathCombo_ = new QComboBox(this);
  pathCombo_->setObjectName(QStringLiteral("dataPath"));
  pathCombo_->setEditable(true);
  pathCombo_->setInsertPolicy(QComboBox::NoInsert);
  pathCombo_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  pathCombo_->setMinimumContentsLength(12);
  pathCombo_->lineEdit()->setPlaceholderText(tr("dataset folder or .npz file"));
  pathCombo_->setToolTip(tr("The dataset to train on. Recently used folders are in the list; press Enter "
                            "after typing a path."));
  pathCombo_->addItems(QSettings().value(QLatin1String(kRecentKey)).toStringList());
  pathCombo_->setCurrentIndex(-1);
  row->addWidget(pathCombo_, 1);
  browseButton_ = new QToolButton(this);
  browseButton_->setText(tr("Browse…"));
  browseButton_->setPopupMode(QToolButton::MenuButtonPopup);
  browseButton_->setToolTip(tr("Choose a dataset folder (the arrow offers a MedMNIST .npz file instead)."));
  auto* menu = new QMenu(browseButton_);
  menu->addAction(tr("Dataset folder…"), this, &DataPanel::chooseFolder);
  menu->addAction(tr("MedMNIST .npz file…"), this, &DataPanel::chooseNpz);
  browseButton_->setMenu(menu);
  connect(browseButton_, &QToolButton::clicked, this, &DataPanel::chooseFolder);
  row->addWidget(browseButton_);
  layout->addLayout(row);
  connect(pathCombo_, &QComboBox::activated, this, [this](int index) { setDataPath(pathCombo_->itemText(index)); });
  connect(pathCombo_->lineEdit(), &QLineEdit::returnPressed, this,
          [this]() { setDataPath(pathCombo_->currentText().trimmed()); });

  progress_ = new QProgressBar(this);
  progress_->setTextVisible(true);
  progress_->setVisible(false);
  progress_->setToolTip(tr("Scanning the dataset folder (in the background)."));
  layout->addWidget(progress_);

  status_ = new QLabel(tr("No dataset chosen yet."), this);
  status_->setWordWrap(true);
  layout->addWidget(status_);

  problem_ = new QLabel(this);
  problem_->setObjectName(QStringLiteral("dataProblem"));
  problem_->setWordWrap(true);
  problem_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  problem_->setStyleSheet(QStringLiteral("QLabel { color: #a40000; background: #fdecea; border: 1px solid #f5c2bd; "
                                         "border-radius: 3px; padding: 4px; }"));
  problem_->setVisible(false);
  layout->addWidget(problem_);

  counts_ = new QTableWidget(this);
  counts_->setObjectName(QStringLiteral("dataCounts"));
  counts_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  counts_->setSelectionMode(QAbstractItemView::NoSelection);
  counts_->verticalHeader()->setVisible(false);
  counts_->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
  counts_->setToolTip(tr("Images per class in each split. 'carved' splits were taken from train/ "
                         "(stratified, fixed seed) because the folder had none."));
  counts_->setVisible(false);
  layout->addWidget(counts_);

  thumbnails_ = new QWidget(this);
  thumbnailsLayout_ = new QVBoxLayout(thumbnails_);
  thumbnailsLayout_->setContentsMargins(0, 0, 0, 0);
  thumbnailsLayout_->setSpacing(2);
  thumbnails_->setToolTip(tr("A few training images of each class, as the network will see them (grayscale)."));
  layout->addWidget(thumbnails_);

  skippedToggle_ = new QToolButton(this);
  skippedToggle_->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
  skippedToggle_->setArrowType(Qt::RightArrow);
  skippedToggle_->setCheckable(true);
  skippedToggle_->setAutoRaise(true);
  skippedToggle_->setVisible(false);
  skippedToggle_->setToolTip(tr("Files that were found but cannot be used, with the reason. They never stop a run."));
  layout->addWidget(skippedToggle_);
  skipped_ = new QListWidget(this);
  skipped_->setVisible(false);
  skipped_->setMaximumHeight(110);
  layout->addWidget(skipped_);
  connect(skippedToggle_, &QToolButton::toggled, this, [this](bool on) {
    skipped_->setVisible(on);
    skippedToggle_->setArrowType(on ? Qt::DownArrow : Qt::RightArrow);
  });
  layout->addStretch(1);

  connect(&watcher_, &QFutureWatcher<ScanResult>::finished, this, &DataPanel::onScanDone);
  connect(&watcher_, &QFutureWatcher<ScanResult>::progressRangeChanged, progress_, &QProgressBar::setRange);
  connect(&watcher_, &QFutureWatcher<ScanResult>::progressValueChanged, progress_, &QProgressBar::setValue);
  connect(&watcher_, &QFutureWatcher<ScanResult>::progressTextChanged, status_, &QLabel::setText);
}

DataPanel::~DataPanel() { cancelScan(); }

void DataPanel::cancelScan() {
  // The token stops the engine's folder walk within a few hundred entries, so the wait
  // below is short even for a folder of 100k files.
  scanCancel_.cancel();
  if (watcher_.isRunning()) {
    watcher_.cancel();
    watcher_.waitForFinished();
  }
}

bool DataPanel::isScanning() const { return watcher_.isRunning(); }

QString DataPanel::problem() const { return problem_->isHidden() ? QString() : problem_->text(); }

void DataPanel::chooseFolder() {
  const QString dir = QFileDialog::getExistingDirectory(this, tr("Choose a dataset folder"), dialogStartDir(path_));
  if (!dir.isEmpty()) {
    setDataPath(dir);
  }
}

void DataPanel::chooseNpz() {
  const QString file = QFileDialog::getOpenFileName(this, tr("Choose a MedMNIST .npz file"), dialogStartDir(path_),
                                                    tr("MedMNIST arrays (*.npz)"));
  if (!file.isEmpty()) {
    setDataPath(file);
  }
}

void DataPanel::setDataPath(const QString& path) {
  if (path.isEmpty()) {
    return;
  }
  cancelScan();
  scanCancel_ = ampbench::CancelToken{};
  path_ = path;
  pathCombo_->setEditText(path);
  setUsable(false);
  problem_->setVisible(false);
  counts_->setVisible(false);
  status_->setText(tr("Scanning %1 …").arg(QDir::toNativeSeparators(path)));
  progress_->setRange(0, 0);
  progress_->setVisible(true);

  const int perClass = kThumbnailsPerClass;
  const int size = qCeil(kThumbnailSize * devicePixelRatioF());  // device pixels: crisp on HiDPI screens
  const QString shown = QDir::toNativeSeparators(path);
  watcher_.setFuture(QtConcurrent::run(
      [path, shown, perClass, size, cancel = scanCancel_](QPromise<ScanResult>& promise) {
        auto progress = [&promise, &shown](const ampbench::DataProgressEvent& e) {
          if (e.total > 0) {
            promise.setProgressRange(0, static_cast<int>(e.total));
            promise.setProgressValue(static_cast<int>(e.done));
          } else {
            // Listing: no total yet; the count goes to the status line. (Qt drops a
            // progress update whose value does not grow, so the value is the count.)
            promise.setProgressValueAndText(
                static_cast<int>(e.done), QObject::tr("Scanning %1 … %n image file(s) found", nullptr, static_cast<int>(e.done)).arg(shown));
          }
        };
        promise.addResult(scanForPanel(path, progress, perClass, size, cancel));
      }));
}

void DataPanel::onScanDone() {
  progress_->setVisible(false);
  if (watcher_.isCanceled() || watcher_.future().resultCount() == 0) {
    return;
  }
  result_ = watcher_.result();
  if (result_.path != path_) {
    return;
  }
  showResult();
  Q_EMIT scanFinished(usable_);
}

void DataPanel::showResult() {
  // Thumbnails and skipped list from the last scan go first.
  while (QLayoutItem* item = thumbnailsLayout_->takeAt(0)) {
    delete item->widget();
    delete item;
  }
  skipped_->clear();

  if (!result_.error.isEmpty()) {
    status_->setText(tr("This dataset cannot be used yet."));
    problem_->setText(result_.error);
    problem_->setVisible(true);
    skippedToggle_->setVisible(false);
    skipped_->setVisible(false);
    setUsable(false);
    return;
  }
  rememberRecent(path_);
  const auto& s = result_.summary;
  const QStringList classes = toQStringList(s.classes);
  int64_t total = 0;
  for (const auto& [split, counts] : s.counts) {
    for (int64_t c : counts) {
      total += c;
    }
  }
  status_->setText(tr("%1 images, %2 classes (%3).").arg(total).arg(classes.size()).arg(qs(s.kind)));

  // Counts table: one row per class, one column per split.
  QStringList splits;
  for (const char* name : {"train", "val", "test"}) {
    if (s.counts.count(name) > 0) {
      splits << QString::fromLatin1(name);
    }
  }
  counts_->clear();
  counts_->setRowCount(classes.size() + 1);
  counts_->setColumnCount(splits.size() + 1);
  QStringList headers{tr("class")};
  QStringList warnings;
  for (const QString& split : splits) {
    const auto origin = s.splitOrigin.find(split.toStdString());
    const bool carved = origin != s.splitOrigin.end() && origin->second.find("carved") != std::string::npos;
    headers << (carved ? tr("%1 (carved)").arg(split) : split);
  }
  counts_->setHorizontalHeaderLabels(headers);
  for (int c = 0; c <= classes.size(); ++c) {
    const bool totalRow = c == classes.size();
    counts_->setItem(c, 0, new QTableWidgetItem(totalRow ? tr("total") : classes[c]));
    for (int j = 0; j < splits.size(); ++j) {
      const auto& counts = s.counts.at(splits[j].toStdString());
      int64_t n = 0;
      if (totalRow) {
        for (int64_t v : counts) {
          n += v;
        }
      } else {
        n = c < static_cast<int>(counts.size()) ? counts[c] : 0;
        if (n == 0) {
          warnings << tr("%1 has no %2 images.").arg(splits[j], classes[c]);
        }
      }
      auto* item = new QTableWidgetItem(QString::number(n));
      item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
      if (totalRow) {
        QFont f = item->font();
        f.setBold(true);
        item->setFont(f);
      }
      counts_->setItem(c, j + 1, item);
    }
  }
  counts_->resizeRowsToContents();
  int height = counts_->horizontalHeader()->height() + 4;
  for (int r = 0; r < counts_->rowCount(); ++r) {
    height += counts_->rowHeight(r);
  }
  counts_->setFixedHeight(height);
  counts_->setVisible(true);

  // One thumbnail strip per class.
  for (int c = 0; c < classes.size(); ++c) {
    auto* strip = new QWidget(thumbnails_);
    auto* stripLayout = new QHBoxLayout(strip);
    stripLayout->setContentsMargins(0, 0, 0, 0);
    stripLayout->setSpacing(2);
    auto* name = new QLabel(classes[c], strip);
    name->setMinimumWidth(80);
    stripLayout->addWidget(name);
    for (const auto& [label, image] : result_.thumbnails) {
      if (label == c) {
        auto* thumb = new QLabel(strip);
        thumb->setPixmap(QPixmap::fromImage(image));
        thumb->setFixedSize(kThumbnailSize, kThumbnailSize);
        thumb->setScaledContents(true);
        stripLayout->addWidget(thumb);
      }
    }
    stripLayout->addStretch(1);
    thumbnailsLayout_->addWidget(strip);
  }

  for (const auto& f : s.skipped) {
    skipped_->addItem(tr("%1 — %2").arg(QFileInfo(qs(f.path)).fileName(), qs(f.reason)));
    skipped_->item(skipped_->count() - 1)->setToolTip(qs(f.path));
  }
  skippedToggle_->setText(s.skipped.size() == 1 ? tr("1 file skipped")
                                                : tr("%1 files skipped").arg(s.skipped.size()));
  skippedToggle_->setVisible(!s.skipped.empty());
  skipped_->setVisible(skippedToggle_->isChecked() && !s.skipped.empty());

  if (!warnings.isEmpty()) {
    problem_->setText(warnings.join(QLatin1Char(' ')) +
                      tr(" Add images of every class to every split, or remove the split folder so it "
                         "is carved from train/."));
    problem_->setVisible(true);
  }
  setUsable(true);
}

void DataPanel::setUsable(bool usable) {
  if (usable_ != usable) {
    usable_ = usable;
    Q_EMIT dataUsableChanged(usable);
  }
}

void DataPanel::rememberRecent(const QString& path) {
  QSettings settings;
  QStringList recent = settings.value(QLatin1String(kRecentKey)).toStringList();
  recent.removeAll(path);
  recent.prepend(path);
  while (recent.size() > kMaxRecent) {
    recent.removeLast();
  }
  settings.setValue(QLatin1String(kRecentKey), recent);
  const QSignalBlocker block(pathCombo_);
  pathCombo_->clear();
  pathCombo_->addItems(recent);
  pathCombo_->setCurrentIndex(0);
}

void DataPanel::dragEnterEvent(QDragEnterEvent* event) {
  const auto urls = event->mimeData()->urls();
  if (urls.size() == 1 && urls.front().isLocalFile() && acceptablePath(urls.front().toLocalFile())) {
    event->acceptProposedAction();
  }
}

void DataPanel::dropEvent(QDropEvent* event) {
  const auto urls = event->mimeData()->urls();
  if (!urls.isEmpty() && urls.front().isLocalFile()) {
    setDataPath(urls.front().toLocalFile());
    event->acceptProposedAction();
  }
}

}  // namespace ampbench::ui
