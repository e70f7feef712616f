#include "ui/FileTail.h"

#include <QFile>

#include <utility>

#ifdef Q_OS_UNIX
#include <sys/stat.h>
#endif

namespace ampbench::ui {

FileTail::FileTail(QString path) : path_(std::move(path)) {}

void FileTail::forget() {
  offset_ = 0;
  pending_.clear();
  mark_.clear();
  delivered_ = false;
}

TailRead FileTail::read() {
  TailRead r;
  QFile file(path_);
  if (!file.open(QIODevice::ReadOnly)) {
    if (seen_) {
      r.restarted = delivered_ || offset_ > 0;  // gone (a replacement not renamed in yet): nothing holds
      forget();
    }
    seen_ = false;
    return r;
  }
  r.exists = true;
  bool restart = false;
#ifdef Q_OS_UNIX
  // The identity of the file opened, not of whatever the path names a moment later.
  struct stat st {};
  if (::fstat(file.handle(), &st) == 0) {
    const auto device = static_cast<uint64_t>(st.st_dev);
    const auto inode = static_cast<uint64_t>(st.st_ino);
    restart = seen_ && (device != device_ || inode != inode_);
    device_ = device;
    inode_ = inode;
  }
#endif
  const qint64 size = file.size();
  restart = restart || size < offset_;
  if (!restart && !mark_.isEmpty()) {
    // Rewritten in place to at least the old length: the bytes before the offset differ.
    if (!file.seek(offset_ - mark_.size()) || file.read(mark_.size()) != mark_) {
      restart = true;
    }
  }
  if (restart) {
    r.restarted = delivered_ || offset_ > 0;
    forget();
  }
  seen_ = true;
  r.fromTop = !delivered_;
  if (!file.seek(offset_)) {
    return r;
  }
  const QByteArray data = file.readAll();
  r.bytes = data.size();
  offset_ += data.size();
  mark_ = (mark_ + data).right(kMarkBytes);
  pending_ += data;
  const qsizetype end = pending_.lastIndexOf('\n');
  if (end < 0) {
    return r;  // no complete line yet
  }
  const QByteArray complete = pending_.left(end);
  pending_.remove(0, end + 1);
  for (QByteArray line : complete.split('\n')) {
    if (line.endsWith('\r')) {
      line.chop(1);
    }
    r.lines << QString::fromUtf8(line);
  }
  delivered_ = true;
  return r;
}

}  // namespace ampbench::ui
