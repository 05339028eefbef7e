#include "client/job/dequantize_job.h"

#include <filesystem>
#include <map>

#include "client/io/checkpoint_writer.h"
#include "client/io/quantized_layout.h"
#include "quantd/core/quantize.h"
#include "quantd/core/tensor_encoding.h"

namespace quantd::client {
namespace {

namespace fs = std::filesystem;

}  // namespace

Status RunDequantizeJob(const DequantizeJobOptions& options, std::ostream* log) {
  QUANTD_RETURN_IF_ERROR(CheckOutputPaths(options.input, options.output, options.overwrite));
  QUANTD_ASSIGN_OR_RETURN(auto q, QuantizedCheckpoint::Open(options.input));
  CheckpointWriteOptions wo;
  wo.output = options.output;
  wo.max_shard_bytes = options.max_shard_bytes;
  wo.overwrite = options.overwrite;
  wo.metadata = DecodedFileMetadata(q->checkpoint().metadata());
  if (q->checkpoint().sharded() || fs::is_directory(options.input))
    wo.side_files_from = q->checkpoint().directory();
  // Name order; decoded tensors are produced inside the write callback, so at most one decoded
  // tensor is in memory at a time.
  std::map<std::string, TensorToWrite> by_name;
  for (const Checkpoint::Entry* e : q->plain()) by_name[e->info->name] = CopyOfEntry(*e);
  for (const auto& info : q->encoded()) {
    const DType dtype = options.dtype.value_or(info.source_dtype);
    if (!(dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16)) {
      return InvalidArgumentError("tensor '" + info.name + "': cannot decode to " +
                                  std::string(DTypeName(dtype)));
    }
    TensorToWrite t;
    t.name = info.name;
    t.dtype = dtype;
    t.shape = info.shape;
    const QuantizedCheckpoint* qp = q.get();
    t.write = [qp, &info, dtype](ByteSink& sink) -> Status {
      QUANTD_ASSIGN_OR_RETURN(FlatTensorEncoding flat, qp->Load(info));
      auto slices = SplitSlices(flat);
      if (!slices.ok()) return slices.status().WithContext("tensor '" + info.name + "'");
      for (const Encoding& e : *slices) {
        auto values = DecodeRows(e);
        if (!values.ok()) return values.status().WithContext("tensor '" + info.name + "'");
        std::vector<uint8_t> bytes(values->size() * DTypeSize(dtype));
        QUANTD_RETURN_IF_ERROR(ConvertFromFloat(*values, dtype, bytes));
        QUANTD_RETURN_IF_ERROR(sink.Write(bytes));
      }
      return OkStatus();
    };
    if (by_name.count(info.name))
      return InvalidArgumentError("tensor '" + info.name + "' is both encoded and plain");
    by_name[info.name] = std::move(t);
  }
  std::vector<TensorGroup> groups;
  for (auto& [name, t] : by_name) {
    TensorGroup g;
    g.entries.push_back(std::move(t));
    groups.push_back(std::move(g));
  }
  QUANTD_ASSIGN_OR_RETURN(std::vector<std::string> files, WriteCheckpoint(wo, std::move(groups)));
  if (log) {
    *log << "decoded " << q->encoded().size() << " tensors, copied " << q->plain().size() << " into "
         << files.size() << " file(s) at " << options.output << "\n";
  }
  return OkStatus();
}

}  // namespace quantd::client
