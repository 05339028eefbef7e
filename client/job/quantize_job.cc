#include "client/job/quantize_job.h"

#include <chrono>
#include <filesystem>
#include <memory>

#include "client/io/checkpoint_writer.h"
#include "client/io/quantized_layout.h"
#include "client/job/journal.h"
#include "quantd/core/tensor_encoding.h"

namespace quantd::client {
namespace {

namespace fs = std::filesystem;

std::string DefaultJournalDir(const std::string& output) {
  std::string o = output;
  while (o.size() > 1 && o.back() == '/') o.pop_back();
  return o + ".journal";
}

// Everything the steps share.
struct JobState {
  std::unique_ptr<Checkpoint> checkpoint;
  std::vector<std::unique_ptr<SafetensorsFile>> calibration_files;
  std::vector<TensorPlan> plans;
  std::unique_ptr<Journal> journal;
  std::vector<std::vector<ChunkKey>> keys;  // [tensor][chunk]
  // Chunks still to encode, and the key each one's record goes under.
  std::vector<ChunkInput> pending;
  std::vector<ChunkKey> pending_keys;
  std::vector<FlatTensorEncoding> flats;  // [tensor]: sections' shapes and the slice index
  JobReport report;
  uint64_t resumed_bytes = 0;
};

// --- plan ----------------------------------------------------------------------------------

Status Plan(const QuantizeJobOptions& options, JobState& job) {
  QUANTD_RETURN_IF_ERROR(CheckOutputPaths(options.input, options.output, options.overwrite));
  QUANTD_ASSIGN_OR_RETURN(job.checkpoint, Checkpoint::Open(options.input));
  // Its sections would be quantized as if they were weights, into a file nothing can decode.
  if (job.checkpoint->metadata().count(kCheckpointFormatKey)) {
    return InvalidArgumentError(options.input + " is already quantized by quantd (metadata '" +
                                std::string(kCheckpointFormatKey) +
                                "'); quantize the float checkpoint it came from, or decode it first with "
                                "quantctl dequantize");
  }
  QUANTD_ASSIGN_OR_RETURN(job.plans, PlanCheckpoint(*job.checkpoint, options.plan));
  std::vector<CalibrationFile> files;
  for (const auto& c : options.calibration) {
    QUANTD_ASSIGN_OR_RETURN(auto f, SafetensorsFile::Open(c.path));
    files.push_back({c.kind, f.get()});
    job.calibration_files.push_back(std::move(f));
  }
  QUANTD_RETURN_IF_ERROR(AttachCalibration(job.plans, files));
  if (!IsFileOutput(options.output) && fs::exists(options.output) && !fs::is_directory(options.output)) {
    return InvalidArgumentError("output " + options.output + " exists and is not a folder");
  }
  return OkStatus();
}

// --- resume --------------------------------------------------------------------------------

// Keys every chunk; those the journal holds intact are done, damaged ones (or records that
// belong to another chunk) are forgotten with a warning, the rest become `pending`.
Status Resume(const QuantizeJobOptions& options, JobState& job, std::ostream* log) {
  QUANTD_ASSIGN_OR_RETURN(
      job.journal,
      Journal::Open(options.journal_dir.empty() ? DefaultJournalDir(options.output) : options.journal_dir));
  job.keys.resize(job.plans.size());
  for (size_t i = 0; i < job.plans.size(); ++i) {
    const TensorPlan& p = job.plans[i];
    if (!p.quantize) continue;
    job.report.input_bytes += p.entry->info->size_bytes();
    for (const ChunkSpec& spec : p.chunks) {
      const auto source = p.Source(spec);
      const ChunkKey key = ComputeChunkKey(spec, source, p.calibration.get());
      p.entry->file->ReleasePages(source);
      job.keys[i].push_back(key);
      if (job.journal->Contains(key)) {
        auto entry = job.journal->Load(key);
        if (entry.ok()) {
          job.resumed_bytes += source.size();
          job.report.resumed_chunks++;
          continue;
        }
        if (log) *log << "warning: " << spec.Describe() << ": redone, " << entry.status().ToString() << "\n";
        job.journal->Forget(key);
      }
      const SafetensorsFile* file = p.entry->file;
      job.pending.push_back({.spec = spec,
                             .source = source,
                             .calibration = p.calibration.get(),
                             .release = [file](std::span<const uint8_t> b) { file->ReleasePages(b); }});
      job.pending_keys.push_back(key);
    }
  }
  return OkStatus();
}

// --- execute -------------------------------------------------------------------------------

Status Execute(const QuantizeJobOptions& options, ChunkExecutor& executor, JobState& job, std::ostream* log) {
  if (log) {
    *log << "quantizing " << job.pending.size() << " chunks of " << job.plans.size() << " tensors";
    if (job.report.resumed_chunks > 0) {
      *log << " (" << job.report.resumed_chunks << " chunks resumed from " << job.journal->dir() << ")";
    }
    *log << "\n";
  }
  Progress progress(log, options.progress, job.report.input_bytes, job.resumed_bytes);
  Status run = executor.RunAll(job.pending, options.device, [&](size_t i, ChunkRecord&& record) -> Status {
    const ChunkInput& chunk = job.pending[i];
    // Executors drop a chunk's source pages once they read them, but reading a neighbouring
    // chunk can map them again (the kernel maps page-cache folios larger than one chunk's edge):
    // dropping them again when the chunk is done keeps the job's memory bounded by what is in
    // flight.
    if (chunk.release) chunk.release(chunk.source);
    progress.Add(chunk.source.size());
    record.key = job.pending_keys[i];
    return job.journal->Put(record);
  });
  progress.Finish();
  if (!run.ok()) {
    return run.WithContext("quantization stopped (finished chunks are kept in " + job.journal->dir() +
                           "; re-run the same command to resume)");
  }
  return OkStatus();
}

// --- join ----------------------------------------------------------------------------------

// Per tensor, from its records' headers only: the flat layout (sections' shapes and the slice
// index), stats, quality and who did the work.
Status Join(JobState& job) {
  job.flats.resize(job.plans.size());
  for (size_t i = 0; i < job.plans.size(); ++i) {
    const TensorPlan& p = job.plans[i];
    TensorReport r;
    r.name = p.name();
    r.shape = p.entry->info->shape;
    r.dtype = p.entry->info->dtype;
    r.quantized = p.quantize;
    r.reason = p.reason;
    if (p.quantize) {
      std::vector<Encoding> slices;
      ErrorSums sums;
      for (const ChunkKey& key : job.keys[i]) {
        QUANTD_ASSIGN_OR_RETURN(auto entry, job.journal->Load(key, /*verify=*/false));
        const ChunkRecordView& v = entry->view();
        sums.Add(v.error);
        r.seconds += v.provenance.seconds;
        r.retries += v.provenance.retries;
        r.chunks_by_worker[v.provenance.worker]++;
        Encoding header = v.header;
        for (const auto& s : v.sections) header.sections.push_back(Section{s.name, s.dtype, s.shape, {}});
        slices.push_back(std::move(header));
      }
      auto flat = FlattenSlices(slices);
      if (!flat.ok()) return flat.status().WithContext("tensor '" + p.name() + "'");
      job.flats[i] = std::move(*flat);
      r.method = p.method;
      r.params = p.params;
      r.chunks = static_cast<int64_t>(p.chunks.size());
      r.metrics = MetricsFromSums(sums, job.flats[i].BitsPerWeight());
      r.stats = job.flats[i].stats;
    }
    job.report.tensors.push_back(std::move(r));
  }
  return OkStatus();
}

// --- write ---------------------------------------------------------------------------------

// The records of one tensor, mapped (and verified) when its first section is written and
// released after its last, so that each record is read once and each section written once.
class TensorRecords {
 public:
  TensorRecords(const Journal* journal, const std::vector<ChunkKey>* keys, size_t sections)
      : journal_(journal), keys_(keys), sections_(sections) {}

  Status WriteSection(size_t k, ByteSink& sink) {
    if (entries_.empty()) {
      for (const ChunkKey& key : *keys_) {
        QUANTD_ASSIGN_OR_RETURN(auto entry, journal_->Load(key));
        entries_.push_back(std::move(entry));
      }
    }
    for (const auto& e : entries_) {
      const auto& section = e->view().sections.at(k);
      QUANTD_RETURN_IF_ERROR(sink.Write(section.data));
      e->file().ReleasePages(section.data);
    }
    if (k + 1 == sections_) entries_.clear();
    return OkStatus();
  }

 private:
  const Journal* journal_;
  const std::vector<ChunkKey>* keys_;
  const size_t sections_;
  std::vector<std::unique_ptr<JournalEntry>> entries_;
};

StatusOr<std::vector<std::string>> Write(const QuantizeJobOptions& options, JobState& job) {
  CheckpointWriteOptions wo;
  wo.output = options.output;
  wo.max_shard_bytes = options.max_shard_bytes;
  wo.overwrite = options.overwrite;
  wo.metadata = QuantizedFileMetadata(job.checkpoint->metadata());
  if (job.checkpoint->sharded() || fs::is_directory(options.input))
    wo.side_files_from = job.checkpoint->directory();
  const Checkpoint* input = job.checkpoint.get();
  auto taken = [input](const std::string& name) { return input->Find(name) != nullptr; };
  std::vector<TensorGroup> groups;
  for (size_t i = 0; i < job.plans.size(); ++i) {
    const TensorPlan& p = job.plans[i];
    if (!p.quantize) {
      TensorGroup g;
      g.entries.push_back(CopyOfEntry(*p.entry));
      groups.push_back(std::move(g));
      continue;
    }
    const FlatTensorEncoding& flat = job.flats[i];
    auto records =
        std::make_shared<TensorRecords>(job.journal.get(), &job.keys[i], flat.section_names.size());
    QUANTD_ASSIGN_OR_RETURN(
        TensorGroup g,
        EncodedTensorGroup(
            p.name(), flat, job.report.tensors[i].metrics,
            [records](size_t k, ByteSink& sink) { return records->WriteSection(k, sink); }, taken));
    groups.push_back(std::move(g));
  }
  return WriteCheckpoint(wo, std::move(groups));
}

}  // namespace

StatusOr<JobReport> RunQuantizeJob(const QuantizeJobOptions& options, ChunkExecutor& executor,
                                   std::ostream* log) {
  const auto start = std::chrono::steady_clock::now();
  JobState job;
  job.report.input = options.input;
  QUANTD_RETURN_IF_ERROR(Plan(options, job));
  QUANTD_RETURN_IF_ERROR(Resume(options, job, log));
  QUANTD_RETURN_IF_ERROR(Execute(options, executor, job, log));
  QUANTD_RETURN_IF_ERROR(Join(job));
  QUANTD_ASSIGN_OR_RETURN(std::vector<std::string> files, Write(options, job));

  JobReport& report = job.report;
  std::error_code ec;
  for (const std::string& f : files) report.output_bytes += fs::file_size(f, ec);
  report.output = IsFileOutput(options.output) ? files.front() : options.output;
  report.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report.peak_rss_bytes = PeakRssBytes();
  if (!options.report_path.empty())
    QUANTD_RETURN_IF_ERROR(WriteFileAtomically(options.report_path, report.ToJson()));
  QUANTD_RETURN_IF_ERROR(job.journal->RemoveAll());
  return std::move(report);
}

}  // namespace quantd::client
