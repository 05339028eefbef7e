// File: log.h
//
// quantd's log: one line per event on stderr, "2026-11-23T07:41:02.123Z quantd: <text>".
// Lines from concurrent threads never interleave.
#ifndef QUANTD_SERVER_LOG_H_
#define QUANTD_SERVER_LOG_H_

#include <string_view>

namespace quantd::server {

void LogLine(std::string_view text);
// Silences LogLine (tests).
void SetLogEnabled(bool enabled);

}  // namespace quantd::server

#endif  // QUANTD_SERVER_LOG_H_
