#include "quantize_job.h"

#include <chrono>
#include <filesystem>
#include <map>

#include "quantd/core/method.h"
#include "quantd/core/tensor_encoding.h"
#include "quantized_layout.h"
#include "safetensors_writer.h"

namespace quantd::client {
namespace {

namespace fs = std::filesystem;

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Config, tokenizer and other small files that travel with a checkpoint.
Status CopySideFiles(const Checkpoint& in, const std::string& out_dir) {
  std::error_code ec;
  if (!fs::is_directory(in.directory(), ec)) return OkStatus();
  for (const auto& e : fs::directory_iterator(in.directory(), ec)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || EndsWith(name, ".safetensors") || name == "model.safetensors.index.json") continue;
    const bool side = EndsWith(name, ".json") || name.rfind("tokenizer", 0) == 0 || EndsWith(name, ".model") ||
                      EndsWith(name, ".tiktoken") || EndsWith(name, ".txt") || EndsWith(name, ".md");
    if (!side) continue;
    fs::copy_file(e.path(), fs::path(out_dir) / name, fs::copy_options::overwrite_existing, ec);
    if (ec) return InternalError("copying " + e.path().string() + ": " + ec.message());
  }
  return OkStatus();
}

TensorToWrite CopyOf(const Checkpoint::Entry& e) {
  return TensorToWrite::FromBytes(e.info->name, e.info->dtype, e.info->shape, e.file->Data(*e.info));
}

}  // namespace

StatusOr<std::string> OutputFilePath(const std::string& output) {
  if (EndsWith(output, ".safetensors")) return output;
  std::error_code ec;
  fs::create_directories(output, ec);
  if (ec) return InternalError(output + ": cannot create folder: " + ec.message());
  return (fs::path(output) / "model.safetensors").string();
}

StatusOr<JobReport> RunQuantizeJob(const QuantizeJobOptions& options, ChunkExecutor& executor, std::ostream* log) {
  const auto start = std::chrono::steady_clock::now();
  QUANTD_ASSIGN_OR_RETURN(auto checkpoint, Checkpoint::Open(options.input));
  QUANTD_ASSIGN_OR_RETURN(std::vector<TensorPlan> plans, PlanCheckpoint(*checkpoint, options.plan));

  std::vector<ChunkTask> tasks;
  std::vector<std::vector<ChunkOutcome>> outcomes(plans.size());
  JobReport report;
  report.input = options.input;
  for (size_t i = 0; i < plans.size(); ++i) {
    const TensorPlan& p = plans[i];
    if (!p.quantize) continue;
    const auto bytes = p.entry->file->Data(*p.entry->info);
    const size_t row_bytes = static_cast<size_t>(p.matrix.cols) * DTypeSize(p.entry->info->dtype);
    report.input_bytes += bytes.size();
    outcomes[i].resize(p.chunks.size());
    for (size_t c = 0; c < p.chunks.size(); ++c) {
      const ChunkPlan& rows = p.chunks[c];
      tasks.push_back({&p, i, c, rows,
                       bytes.subspan(rows.row_begin * row_bytes, (rows.row_end - rows.row_begin) * row_bytes)});
    }
  }
  if (log) *log << "quantizing " << tasks.size() << " chunks of " << plans.size() << " tensors\n";
  QUANTD_RETURN_IF_ERROR(executor.RunAll(tasks, [&](size_t i, ChunkOutcome&& o) -> Status {
    outcomes[tasks[i].tensor_index][tasks[i].chunk_index] = std::move(o);
    return OkStatus();
  }));

  // Join slices and measure, in plan order.
  std::vector<FlatTensorEncoding> flats(plans.size());
  for (size_t i = 0; i < plans.size(); ++i) {
    const TensorPlan& p = plans[i];
    TensorReport r;
    r.name = p.name();
    r.shape = p.entry->info->shape;
    r.dtype = p.entry->info->dtype;
    r.quantized = p.quantize;
    r.reason = p.reason;
    if (p.quantize) {
      std::vector<Encoding> slices;
      ErrorSums sums;
      for (ChunkOutcome& o : outcomes[i]) {
        sums.Add(o.result.error);
        r.seconds += o.seconds;
        r.retries += o.retries;
        r.chunks_by_worker[o.worker]++;
        slices.push_back(std::move(o.result.encoding));
      }
      auto flat = FlattenSlices(slices);
      if (!flat.ok()) return flat.status().WithContext("tensor '" + p.name() + "'");
      flats[i] = std::move(*flat);
      r.method = p.method;
      r.params = p.params;
      r.chunks = static_cast<int64_t>(p.chunks.size());
      r.metrics = MetricsFromSums(sums, flats[i].BitsPerWeight());
      r.stats = flats[i].stats;
    }
    report.tensors.push_back(std::move(r));
  }

  // Write the checkpoint: plain tensors and encoded sections, in name order.
  std::map<std::string, std::string> metadata = checkpoint->metadata();
  metadata[kFormatKey] = kFormatVersion;
  metadata.erase("format");  // the file is no longer loadable as plain PyTorch weights
  std::vector<TensorToWrite> entries;
  for (size_t i = 0; i < plans.size(); ++i) {
    if (!plans[i].quantize) {
      entries.push_back(CopyOf(*plans[i].entry));
      continue;
    }
    metadata[kTensorKeyPrefix + plans[i].name()] = EncodedTensorMetadata(flats[i], &report.tensors[i].metrics);
    for (TensorToWrite& t : EncodedTensorEntries(plans[i].name(), flats[i])) {
      if (checkpoint->Find(t.name) != nullptr) {
        return InvalidArgumentError("tensor '" + plans[i].name() + "': section name '" + t.name +
                                    "' collides with an input tensor");
      }
      entries.push_back(std::move(t));
    }
  }
  QUANTD_ASSIGN_OR_RETURN(std::string out_file, OutputFilePath(options.output));
  QUANTD_RETURN_IF_ERROR(WriteSafetensors(out_file, entries, metadata));
  if (!EndsWith(options.output, ".safetensors")) QUANTD_RETURN_IF_ERROR(CopySideFiles(*checkpoint, options.output));
  std::error_code ec;
  report.output = out_file;
  report.output_bytes = fs::file_size(out_file, ec);
  report.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!options.report_path.empty()) QUANTD_RETURN_IF_ERROR(WriteFileAtomically(options.report_path, report.ToJson()));
  return report;
}

Status RunDequantizeJob(const DequantizeJobOptions& options, std::ostream* log) {
  QUANTD_ASSIGN_OR_RETURN(auto q, QuantizedCheckpoint::Open(options.input));
  std::map<std::string, std::string> metadata;
  for (const auto& [k, v] : q->checkpoint().metadata()) {
    if (k != kFormatKey && k.rfind(kTensorKeyPrefix, 0) != 0) metadata[k] = v;
  }
  metadata["format"] = "pt";
  // Everything in name order; decoded tensors are produced inside the write callback, so at most
  // one decoded tensor is in memory at a time.
  std::map<std::string, TensorToWrite> by_name;
  for (const Checkpoint::Entry* e : q->plain()) by_name[e->info->name] = CopyOf(*e);
  for (const auto& info : q->encoded()) {
    const DType dtype = options.dtype.value_or(info.source_dtype);
    if (!(dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16)) {
      return InvalidArgumentError("tensor '" + info.name + "': cannot decode to " + std::string(DTypeName(dtype)));
    }
    TensorToWrite t;
    t.name = info.name;
    t.dtype = dtype;
    t.shape = info.shape;
    const QuantizedCheckpoint* qp = q.get();
    t.write = [qp, &info, dtype](ByteSink& sink) -> Status {
      QUANTD_ASSIGN_OR_RETURN(FlatTensorEncoding flat, qp->Load(info));
      QUANTD_ASSIGN_OR_RETURN(std::vector<Encoding> slices, SplitSlices(flat));
      for (const Encoding& e : slices) {
        QUANTD_ASSIGN_OR_RETURN(std::vector<float> values, DecodeRows(e));
        std::vector<uint8_t> bytes(values.size() * DTypeSize(dtype));
        QUANTD_RETURN_IF_ERROR(ConvertFromFloat(values, dtype, bytes));
        QUANTD_RETURN_IF_ERROR(sink.Write(bytes));
      }
      return OkStatus();
    };
    if (by_name.count(info.name)) return InvalidArgumentError("tensor '" + info.name + "' is both encoded and plain");
    by_name[info.name] = std::move(t);
  }
  std::vector<TensorToWrite> entries;
  for (auto& [name, t] : by_name) entries.push_back(std::move(t));
  QUANTD_ASSIGN_OR_RETURN(std::string out_file, OutputFilePath(options.output));
  QUANTD_RETURN_IF_ERROR(WriteSafetensors(out_file, entries, metadata));
  if (log) *log << "decoded " << q->encoded().size() << " tensors, copied " << q->plain().size() << " to " << out_file << "\n";
  return OkStatus();
}

}  // namespace quantd::client
