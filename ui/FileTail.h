#pragma once
// Reads a growing text file (a run's CSV log written by another process, perhaps on
// another machine through a network file system) a piece at a time: each read() returns
// the complete lines appended since the last one and reads only the bytes after the
// remembered offset. A last line without its newline yet is held back, not returned, and
// completed by a later read. A file that shrank, was replaced (another inode: a resume
// rewrites the logs atomically) or was rewritten in place (the bytes just before the
// offset changed) is read again from its top, and the read says so (`restarted`).
// Plain data, no event loop: the RunFollower runs it on a worker thread.

#include <QByteArray>
#include <QString>
#include <QStringList>

#include <cstdint>

namespace ampbench::ui {

struct TailRead {
  bool exists = false;     // the file could be opened
  bool restarted = false;  // lines read before no longer hold: `lines` start at the file's top again
  bool fromTop = false;    // lines[0] is the file's first line (its header, for a CSV)
  QStringList lines;       // complete lines, without their "\n" (or "\r\n")
  qint64 bytes = 0;        // bytes read from the file by this call
};

class FileTail {
 public:
  static constexpr int kMarkBytes = 64;  // bytes before the offset compared to spot a rewrite

  explicit FileTail(QString path = {});

  TailRead read();
  const QString& path() const { return path_; }
  qint64 offset() const { return offset_; }
  // Bytes after the last newline, held for the next read.
  qint64 pendingBytes() const { return pending_.size(); }

 private:
  void forget();

  QString path_;
  qint64 offset_ = 0;      // bytes consumed: the complete lines plus pending_
  QByteArray pending_;     // a last line still without its newline
  QByteArray mark_;        // the file's last kMarkBytes bytes before offset_
  bool seen_ = false;      // the file existed at the last read
  bool delivered_ = false; // a line of the current file was returned
  uint64_t device_ = 0;    // identity of the file read last (POSIX st_dev/st_ino)
  uint64_t inode_ = 0;
};

}  // namespace ampbench::ui
