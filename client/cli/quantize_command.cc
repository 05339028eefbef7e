// quantctl quantize: flags -> QuantizeJobOptions and an executor (in-process, or quantd servers)
// -> RunQuantizeJob -> the per-tensor table.
#include <tbb/global_control.h>

#include <iostream>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "client/cli/command.h"
#include "client/cli/method_flags.h"
#include "client/io/checkpoint_writer.h"
#include "client/job/quantize_job.h"
#include "client/remote/remote_executor.h"
#include "client/remote/server_list.h"
#include "proto/credentials.h"
#include "quantd/core/method.h"

namespace quantd::client {
namespace {

class QuantizeCommand final : public Command {
 public:
  CLI::App* Register(CLI::App& app) override {
    CLI::App* q =
        app.add_subcommand("quantize", "Quantize a checkpoint (in-process when no --servers are given)");
    q->add_option("INPUT", job_.input, "a .safetensors file, a model.safetensors.index.json, or a folder")
        ->required();
    q->add_option("OUTPUT", job_.output,
                  "a .safetensors file, or a folder (gets model.safetensors and side files)")
        ->required();
    std::vector<std::string> method_names;
    for (const Method* m : AllMethods()) method_names.emplace_back(m->name());
    q->add_option("--method", job_.plan.method, "quantization method")
        ->capture_default_str()
        ->check(CLI::IsMember(method_names));
    // Repeatable options take one value per occurrence, so they never swallow INPUT or OUTPUT.
    q->add_option("--param", raw_params_, "method parameter KEY=VALUE (repeatable; same as the flags below)")
        ->allow_extra_args(false);
    q->add_option(
         "--skip", job_.plan.skip,
         "copy tensors whose name matches this regular expression unquantized (repeatable); 1-D tensors, "
         "non-float dtypes and embeddings (names containing 'embed') are always copied unless "
         "--quantize-embeddings")
        ->allow_extra_args(false);
    q->add_flag("--quantize-embeddings", job_.plan.quantize_embeddings, "quantize embedding tables too");
    q->add_option(
         "--override", overrides_,
         "REGEX=method[:key=value,...]: per-tensor method and parameters (repeatable; first match wins; "
         "method 'copy' keeps a tensor unquantized)")
        ->allow_extra_args(false);
    q->add_option(
         "--chunk-bytes", job_.plan.chunk_bytes,
         "largest chunk of source bytes encoded as one unit (rows are never split; units like 4MiB work)")
        ->capture_default_str()
        ->transform(CLI::AsSizeValue(false))
        ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
    q->add_option(
         "--max-shard-size", job_.max_shard_bytes,
         "folder outputs: start a new shard file past this size (model-0000K-of-0000N.safetensors + index)")
        ->capture_default_str()
        ->transform(CLI::AsSizeValue(false));
    q->add_flag(
        "--overwrite", job_.overwrite,
        "OUTPUT is an existing folder holding files: replace the files this run writes (others are kept); "
        "without it such an OUTPUT is refused");
    q->add_option(
        "--journal", job_.journal_dir,
        "resume journal folder (default OUTPUT.journal); re-running the same command after a crash redoes "
        "only unfinished chunks; removed after success");
    q->add_option(
        "--hessian", hessian_,
        "safetensors file of per-tensor Hessians (F32 [cols, cols], keyed by tensor name): methods that "
        "take one (pvq) encode the tensors it names Hessian-aware (use_hessian=true is recorded)");
    q->add_option(
        "--column-max", column_max_,
        "safetensors file of per-tensor static column maxima (F32 [cols], keyed by tensor name): methods "
        "that take them (crossquant) use them for the tensors it names (static_columns=true is recorded)");
    q->add_option("--progress", progress_,
                  "progress display: auto (bar on a terminal, lines otherwise), bar, lines, none")
        ->capture_default_str()
        ->check(CLI::IsMember({"auto", "bar", "lines", "none"}));
    q->add_option(
         "--device", device_,
         "where chunks are encoded: auto (a GPU for large chunks when there is one), cpu, or cuda (fail "
         "without one); with --servers, asked of the servers")
        ->capture_default_str()
        ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
    q->add_option("--report", job_.report_path, "write the per-tensor quality report as JSON to this file");
    q->add_option("--threads", threads_, "worker threads for in-process encoding (default: all cores)")
        ->check(CLI::Range(0, 4096));
    RegisterRemote(q);
    flags_.Register(q);
    return q;
  }

  ExitCode Run() override {
    std::unique_ptr<tbb::global_control> limit;
    if (threads_ > 0) {
      limit = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism, threads_);
    }
    // Parameters are checked on their own before any work: a value no tensor could accept is a
    // usage error.
    for (const std::string& kv : raw_params_) {
      auto p = Params::Parse(kv);
      if (!p.ok()) return ReportUsage("--param " + p.status().message());
      for (const auto& [k, v] : p->entries()) job_.plan.params.Set(k, v);
    }
    flags_.ApplyTo(job_.plan.params);
    if (Status s = CheckOutputPaths(job_.input, job_.output, job_.overwrite); !s.ok())
      return ReportUsage(s.message());
    for (const std::string& s : job_.plan.skip) {
      try {
        std::regex r(s, std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        return ReportUsage("--skip '" + s + "': bad regular expression: " + e.what());
      }
    }
    if (Status s = FindMethod(job_.plan.method)->CheckParams(job_.plan.params); !s.ok()) {
      return ReportUsage(s.message());
    }
    for (const std::string& o : overrides_) {
      auto rule = OverrideRule::Parse(o);
      if (!rule.ok()) return ReportUsage(rule.status().message());
      if (rule->method != "copy" && rule->method != "none") {
        auto m = RequireMethod(rule->method);
        if (!m.ok()) return ReportUsage("--override '" + o + "': " + m.status().message());
        if (Status s = (*m)->CheckParams(rule->params); !s.ok())
          return ReportUsage("--override '" + o + "': " + s.message());
      }
      job_.plan.overrides.push_back(std::move(*rule));
    }
    if (!hessian_.empty()) job_.calibration.push_back({CalibrationKind::kHessian, hessian_});
    if (!column_max_.empty()) job_.calibration.push_back({CalibrationKind::kColumnMax, column_max_});
    job_.device = *ParseDevice(device_);
    job_.progress = progress_ == "auto"    ? Progress::AutoStyle()
                    : progress_ == "bar"   ? Progress::Style::kBar
                    : progress_ == "lines" ? Progress::Style::kLines
                                           : Progress::Style::kNone;
    std::unique_ptr<ChunkExecutor> executor;
    if (servers_.empty()) {
      executor = std::make_unique<LocalExecutor>();
    } else {
      auto remote = MakeRemoteExecutor();
      if (!remote.ok()) {
        return remote.status().code() == StatusCode::kInvalidArgument ? ReportUsage(remote.status().message())
                                                                      : ReportFailure(remote.status());
      }
      executor = std::move(*remote);
    }
    auto report = RunQuantizeJob(job_, *executor, &std::cerr);
    if (!report.ok()) return ReportFailure(report.status());
    report->PrintTable(std::cout);
    return ExitCode::kOk;
  }

 private:
  void RegisterRemote(CLI::App* q) {
    const char* group = "Remote execution";
    q->add_option(
         "--servers", servers_,
         "ADDR[,ADDR...]: quantd servers (HOST:PORT, or dns:///NAME:PORT for one backend per resolved "
         "address, e.g. a Kubernetes headless Service); without it the job runs in-process")
        ->group(group);
    q->add_option("--window", remote_.session.window, "chunks in flight per server")
        ->capture_default_str()
        ->check(CLI::Range(1, 1024))
        ->group(group);
    q->add_option("--retries", remote_.retry.max_attempts, "tries per chunk before the job fails")
        ->capture_default_str()
        ->check(CLI::Range(1, 100))
        ->group(group);
    q->add_option("--chunk-timeout", remote_.session.chunk_timeout_seconds,
                  "seconds a chunk may go unanswered before its server is treated as hung")
        ->capture_default_str()
        ->check(CLI::Range(1.0, 86400.0))
        ->group(group);
    q->add_option("--max-message-bytes", remote_.session.max_message_bytes,
                  "largest message sent; larger chunks are split")
        ->capture_default_str()
        ->transform(CLI::AsSizeValue(false))
        ->check(CLI::Range(uint64_t{256} << 10, uint64_t{1} << 30))
        ->group(group);
    q->add_option("--tls-ca", tls_.ca, "PEM CA bundle to verify servers with (enables TLS)")->group(group);
    q->add_option("--tls-cert", tls_.cert, "PEM client certificate for mutual TLS")->group(group);
    q->add_option("--tls-key", tls_.key, "PEM key of --tls-cert")->group(group);
    q->add_option("--tls-server-name", transport_.tls_server_name,
                  "the name the servers' certificates must carry (default: the address dialled; set it with "
                  "dns:/// targets, whose pod addresses a shared certificate does not name)")
        ->group(group);
    q->add_option("--token-file", token_file_, "file holding the servers' bearer token")->group(group);
  }

  // INVALID_ARGUMENT for a malformed --servers list (a usage error); other errors (a name that
  // does not resolve, an unreadable credential file) are failures.
  StatusOr<std::unique_ptr<ChunkExecutor>> MakeRemoteExecutor() {
    QUANTD_ASSIGN_OR_RETURN(remote_.servers, ResolveServers(servers_));
    QUANTD_ASSIGN_OR_RETURN(transport_.credentials, rpc::ClientCredentials(tls_));
    if (!token_file_.empty()) {
      QUANTD_ASSIGN_OR_RETURN(transport_.token, rpc::ReadTokenFile(token_file_, "--token-file"));
    }
    std::cerr << "quantizing on " << remote_.servers.size() << " server(s):";
    for (const auto& s : remote_.servers) std::cerr << " " << s;
    std::cerr << "\n";
    return std::unique_ptr<ChunkExecutor>(
        std::make_unique<RemoteExecutor>(remote_, NewGrpcTransport(transport_)));
  }

  QuantizeJobOptions job_;
  std::vector<std::string> raw_params_, overrides_;
  std::string hessian_, column_max_;
  std::string progress_ = "auto";
  std::string device_ = "auto";
  int threads_ = 0;
  MethodFlags flags_;
  std::string servers_, token_file_;
  rpc::ClientTlsFiles tls_;
  RemoteOptions remote_;
  GrpcTransportOptions transport_;
};

}  // namespace

std::unique_ptr<Command> NewQuantizeCommand() { return std::make_unique<QuantizeCommand>(); }

}  // namespace quantd::client
