#include "quantize_job.h"

#include <chrono>
#include <filesystem>
#include <map>

#include "checkpoint_writer.h"
#include "journal.h"
#include "quantd/core/tensor_encoding.h"
#include "quantized_layout.h"

namespace quantd::client {
namespace {

namespace fs = std::filesystem;

TensorToWrite CopyOf(const Checkpoint::Entry& e) {
  TensorToWrite t = TensorToWrite::FromBytes(e.info->name, e.info->dtype, e.info->shape, e.file->Data(*e.info));
  // Drop the copied pages afterwards so that copying a large model keeps memory flat.
  auto inner = std::move(t.write);
  t.write = [inner = std::move(inner), &e](ByteSink& sink) {
    Status s = inner(sink);
    e.file->ReleasePages(e.file->Data(*e.info));
    return s;
  };
  return t;
}

std::string DefaultJournalDir(const std::string& output) {
  std::string o = output;
  while (o.size() > 1 && o.back() == '/') o.pop_back();
  return o + ".journal";
}

// One chunk of the job: where its source is and its journal key.
struct JobChunk {
  ChunkTask task;
  std::string key;
};

}  // namespace

StatusOr<JobReport> RunQuantizeJob(const QuantizeJobOptions& options, ChunkExecutor& executor, std::ostream* log) {
  const auto start = std::chrono::steady_clock::now();
  QUANTD_ASSIGN_OR_RETURN(auto checkpoint, Checkpoint::Open(options.input));
  QUANTD_ASSIGN_OR_RETURN(std::vector<TensorPlan> plans, PlanCheckpoint(*checkpoint, options.plan));
  std::unique_ptr<SafetensorsFile> hessians, column_max;
  if (!options.hessian_path.empty()) {
    QUANTD_ASSIGN_OR_RETURN(hessians, SafetensorsFile::Open(options.hessian_path));
  }
  if (!options.column_max_path.empty()) {
    QUANTD_ASSIGN_OR_RETURN(column_max, SafetensorsFile::Open(options.column_max_path));
  }
  QUANTD_RETURN_IF_ERROR(AttachCalibration(plans, hessians.get(), column_max.get()));
  if (IsFileOutput(options.output) == false && fs::exists(options.output) && !fs::is_directory(options.output)) {
    return InvalidArgumentError("output " + options.output + " exists and is not a folder");
  }
  QUANTD_ASSIGN_OR_RETURN(auto journal,
                          Journal::Open(options.journal_dir.empty() ? DefaultJournalDir(options.output) : options.journal_dir));

  // Chunks, their keys, and which of them the journal already has (verified by loading).
  std::vector<std::vector<JobChunk>> chunks(plans.size());
  std::vector<ChunkTask> pending;
  std::vector<const JobChunk*> pending_chunks;
  JobReport report;
  report.input = options.input;
  uint64_t resumed_bytes = 0;
  for (size_t i = 0; i < plans.size(); ++i) {
    const TensorPlan& p = plans[i];
    if (!p.quantize) continue;
    const auto bytes = p.entry->file->Data(*p.entry->info);
    const size_t row_bytes = static_cast<size_t>(p.matrix.cols) * DTypeSize(p.entry->info->dtype);
    report.input_bytes += bytes.size();
    for (size_t c = 0; c < p.chunks.size(); ++c) {
      const ChunkPlan& rows = p.chunks[c];
      ChunkTask t{&p, i, c, rows, bytes.subspan(rows.row_begin * row_bytes, (rows.row_end - rows.row_begin) * row_bytes)};
      std::string key = Journal::Key(p, rows, t.source);
      p.entry->file->ReleasePages(t.source);
      if (journal->Contains(key)) {
        if (journal->Load(key).ok()) {
          resumed_bytes += t.source.size();
          report.resumed_chunks++;
        } else {
          journal->Forget(key);  // damaged: redo it
        }
      }
      chunks[i].push_back({t, std::move(key)});
    }
  }
  for (auto& list : chunks) {
    for (const JobChunk& c : list) {
      if (!journal->Contains(c.key)) {
        pending.push_back(c.task);
        pending_chunks.push_back(&c);
      }
    }
  }
  if (log) {
    *log << "quantizing " << pending.size() << " chunks of " << plans.size() << " tensors";
    if (report.resumed_chunks > 0) *log << " (" << report.resumed_chunks << " chunks resumed from " << journal->dir() << ")";
    *log << "\n";
  }
  {
    Progress progress(log, options.progress, report.input_bytes, resumed_bytes);
    Status run = executor.RunAll(pending, [&](size_t i, ChunkOutcome&& o) -> Status {
      const ChunkTask& t = pending[i];
      t.tensor->entry->file->ReleasePages(t.source);
      progress.Add(t.source.size());
      return journal->Put(pending_chunks[i]->key, o);
    });
    progress.Finish();
    if (!run.ok()) {
      return run.WithContext("quantization stopped (finished chunks are kept in " + journal->dir() +
                             "; re-run the same command to resume)");
    }
  }

  // Join the slices of every tensor: shapes, index, stats and quality from the journal entries
  // (their section bytes are streamed from the journal again when the file is written).
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
      for (const JobChunk& c : chunks[i]) {
        QUANTD_ASSIGN_OR_RETURN(ChunkOutcome o, journal->Load(c.key));
        sums.Add(o.result.error);
        r.seconds += o.seconds;
        r.retries += o.retries;
        r.chunks_by_worker[o.worker]++;
        for (Section& s : o.result.encoding.sections) std::vector<uint8_t>().swap(s.data);
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

  // The output: plain tensors and encoded sections, in name order.
  CheckpointWriteOptions wo;
  wo.output = options.output;
  wo.max_shard_bytes = options.max_shard_bytes;
  wo.metadata = checkpoint->metadata();
  wo.metadata.erase("format");  // the file is no longer loadable as plain PyTorch weights
  wo.metadata[kFormatKey] = kFormatVersion;
  if (checkpoint->sharded() || fs::is_directory(options.input)) wo.side_files_from = checkpoint->directory();
  std::vector<TensorGroup> groups;
  const Journal* jp = journal.get();
  for (size_t i = 0; i < plans.size(); ++i) {
    TensorGroup g;
    if (!plans[i].quantize) {
      g.entries.push_back(CopyOf(*plans[i].entry));
      groups.push_back(std::move(g));
      continue;
    }
    const FlatTensorEncoding& flat = flats[i];
    g.metadata[kTensorKeyPrefix + plans[i].name()] = EncodedTensorMetadata(flat, &report.tensors[i].metrics);
    for (size_t k = 0; k < flat.sections.size(); ++k) {
      const Section& s = flat.sections[k];
      TensorToWrite t;
      t.name = SectionEntryName(plans[i].name(), s.name);
      if (checkpoint->Find(t.name) != nullptr) {
        return InvalidArgumentError("tensor '" + plans[i].name() + "': section name '" + t.name +
                                    "' collides with an input tensor");
      }
      t.dtype = s.dtype;
      t.shape = s.shape;
      if (k + 1 == flat.sections.size()) {
        t.write = [&s](ByteSink& sink) { return sink.Write(s.data); };  // the slice index, in memory
      } else {
        const std::vector<JobChunk>* list = &chunks[i];
        t.write = [jp, list, k](ByteSink& sink) -> Status {
          for (const JobChunk& c : *list) {
            QUANTD_ASSIGN_OR_RETURN(ChunkOutcome o, jp->Load(c.key));
            QUANTD_RETURN_IF_ERROR(sink.Write(o.result.encoding.sections[k].data));
          }
          return OkStatus();
        };
      }
      g.entries.push_back(std::move(t));
    }
    groups.push_back(std::move(g));
  }
  QUANTD_ASSIGN_OR_RETURN(std::vector<std::string> files, WriteCheckpoint(wo, std::move(groups)));
  std::error_code ec;
  for (const std::string& f : files) report.output_bytes += fs::file_size(f, ec);
  report.output = IsFileOutput(options.output) ? files.front() : options.output;
  report.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report.peak_rss_bytes = PeakRssBytes();
  if (!options.report_path.empty()) QUANTD_RETURN_IF_ERROR(WriteFileAtomically(options.report_path, report.ToJson()));
  QUANTD_RETURN_IF_ERROR(journal->RemoveAll());
  return report;
}

Status RunDequantizeJob(const DequantizeJobOptions& options, std::ostream* log) {
  QUANTD_ASSIGN_OR_RETURN(auto q, QuantizedCheckpoint::Open(options.input));
  CheckpointWriteOptions wo;
  wo.output = options.output;
  wo.max_shard_bytes = options.max_shard_bytes;
  for (const auto& [k, v] : q->checkpoint().metadata()) {
    if (k != kFormatKey && k.rfind(kTensorKeyPrefix, 0) != 0) wo.metadata[k] = v;
  }
  wo.metadata["format"] = "pt";
  if (q->checkpoint().sharded() || fs::is_directory(options.input)) wo.side_files_from = q->checkpoint().directory();
  // Name order; decoded tensors are produced inside the write callback, so at most one decoded
  // tensor is in memory at a time.
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
    if (by_name.count(info.name)) return InvalidArgumentError("tensor '" + info.name + "' is both encoded and plain");
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
    *log << "decoded " << q->encoded().size() << " tensors, copied " << q->plain().size() << " into " << files.size()
         << " file(s) at " << options.output << "\n";
  }
  return OkStatus();
}

}  // namespace quantd::client
