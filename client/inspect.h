// File: inspect.h
//
// `quantctl inspect`: a readable listing of a (quantized or plain) safetensors checkpoint.
#ifndef QUANTD_CLIENT_INSPECT_H_
#define QUANTD_CLIENT_INSPECT_H_

#include <ostream>
#include <string>

#include "quantd/core/status.h"

namespace quantd::client {

Status InspectCheckpoint(const std::string& path, std::ostream& out);

}  // namespace quantd::client

#endif  // QUANTD_CLIENT_INSPECT_H_
