// quantctl: the command-line client. Subcommands:
//   quantize         quantize a safetensors checkpoint (in-process, or on quantd servers)
//   dequantize       decode a quantized checkpoint back to F32/F16/BF16
//   inspect          list a checkpoint's tensors and encodings
//   convert-llama2c  convert a llama2.c .bin checkpoint to safetensors
//   eval             perplexity of a llama2.c-architecture checkpoint on a text (docs/EVAL.md)
// Exit status: 0 success, 1 failure, 2 usage error.
#include <tbb/global_control.h>

#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "chunk_executor.h"
#include "eval_job.h"
#include "inspect.h"
#include "llama2c_converter.h"
#include "quantd/core/method.h"
#include "quantize_job.h"
#include "remote_executor.h"
#include "server_list.h"

namespace {

using namespace quantd;
using namespace quantd::client;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

int Fail(const Status& s) {
  std::cerr << "quantctl: " << s.ToString() << "\n";
  return s.code() == StatusCode::kInvalidArgument && s.message().rfind("usage:", 0) == 0 ? kExitUsage : kExitFailure;
}

// Method parameters exposed as flags: the union of every registered method's parameters, each
// flag setting the parameter of the same name (dashes for underscores). A flag the chosen
// method does not take is rejected by the method, naming it.
struct MethodFlags {
  std::map<std::string, std::string> values;  // param name -> flag value

  void Register(CLI::App* cmd) {
    std::map<std::string, std::string> help;
    for (const Method* m : AllMethods()) {
      for (const ParamSpec& p : m->param_specs()) {
        std::string& h = help[p.name];
        h += (h.empty() ? "" : "; ") + std::string(m->name()) + ": " + p.help + " (" + p.range +
             (p.default_value.empty() ? "" : ", default " + p.default_value) + ")";
      }
    }
    for (const auto& [name, text] : help) {
      std::string flag = "--" + name;
      for (char& c : flag) c = c == '_' ? '-' : c;
      cmd->add_option(flag, values[name], text)->group("Method parameters");
    }
  }
  void ApplyTo(Params& p) const {
    for (const auto& [k, v] : values) {
      if (!v.empty()) p.Set(k, v);
    }
  }
};

// --- eval: perplexity, and KL / top-1 agreement against a reference model (docs/EVAL.md) ---
struct EvalCommand {
  CLI::App* cmd = nullptr;
  EvalJobOptions options;
  std::string split = "paragraphs";
  bool json = false;
  int threads = 0;

  void Register(CLI::App& app) {
    cmd = app.add_subcommand("eval", "Perplexity of a llama2.c-architecture checkpoint (float or quantized) on a text");
    cmd->add_option("--model", options.model, "checkpoint made by convert-llama2c, or quantized from one")->required();
    cmd->add_option("--tokenizer", options.tokenizer, "llama2.c tokenizer of the model (tok512.bin, tok105.bin)")
        ->required();
    cmd->add_option("--text", options.text, "text file to score")->required();
    cmd->add_option("--windows", options.protocol.windows, "windows to score (0: every complete window)")
        ->capture_default_str()
        ->check(CLI::Range(int64_t{0}, int64_t{1} << 30));
    cmd->add_option("--window", options.protocol.window, "tokens scored per window (the model sees BOS + window-1)")
        ->capture_default_str()
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
    cmd->add_option("--split", split, "paragraphs: cut the text on blank lines (tinystories_val); lines: on line ends "
                                      "(wiki.test.raw)")
        ->capture_default_str()
        ->check(CLI::IsMember({"paragraphs", "lines"}));
    cmd->add_option("--paragraphs", options.protocol.max_paragraphs, "paragraphs (or lines) used at most (0: all)")
        ->capture_default_str()
        ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
    cmd->add_option("--reference", options.reference,
                    "float checkpoint to compare with: adds KL(reference || model) and top-1 agreement");
    cmd->add_flag("--json", json, "print the result as JSON");
    cmd->add_option("--threads", threads, "worker threads (default: all cores)")->check(CLI::Range(0, 4096));
    cmd->add_option("--dump-logits", options.dump_logits)->group("");  // for tests/python/llama2c_reference.py
  }

  int Run() {
    std::unique_ptr<tbb::global_control> limit;
    if (threads > 0) {
      limit = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism, threads);
    }
    options.protocol.split = *ParseTextSplit(split);
    auto report = RunEvalJob(options);
    if (!report.ok()) return Fail(report.status());
    std::cout << (json ? report->ToJson() : report->ToText() + "\n");
    return kExitOk;
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"quantctl: quantize safetensors checkpoints with RTN, Kashin, PVQ or CrossQuant"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "quantctl 0.1.0");

  // --- quantize ---
  CLI::App* q = app.add_subcommand("quantize", "Quantize a checkpoint (in-process when no --servers are given)");
  QuantizeJobOptions qopt;
  std::string method = "rtn";
  std::vector<std::string> raw_params, overrides;
  int threads = 0;
  MethodFlags method_flags;
  q->add_option("INPUT", qopt.input, "a .safetensors file, a model.safetensors.index.json, or a folder")->required();
  q->add_option("OUTPUT", qopt.output, "a .safetensors file, or a folder (gets model.safetensors and side files)")
      ->required();
  std::vector<std::string> method_names;
  for (const Method* m : AllMethods()) method_names.emplace_back(m->name());
  q->add_option("--method", method, "quantization method")->capture_default_str()->check(CLI::IsMember(method_names));
  // Repeatable options take one value per occurrence, so they never swallow INPUT or OUTPUT.
  q->add_option("--param", raw_params, "method parameter KEY=VALUE (repeatable; same as the flags below)")
      ->allow_extra_args(false);
  q->add_option("--skip", qopt.plan.skip,
                "copy tensors whose name matches this regular expression unquantized (repeatable); 1-D tensors, "
                "non-float dtypes and embeddings (names containing 'embed') are always copied unless "
                "--quantize-embeddings")
      ->allow_extra_args(false);
  q->add_flag("--quantize-embeddings", qopt.plan.quantize_embeddings, "quantize embedding tables too");
  q->add_option("--override", overrides,
                "REGEX=method[:key=value,...]: per-tensor method and parameters (repeatable; first match wins; "
                "method 'copy' keeps a tensor unquantized)")
      ->allow_extra_args(false);
  q->add_option("--chunk-bytes", qopt.plan.chunk_bytes,
                "largest chunk of source bytes encoded as one unit (rows are never split; units like 4MiB work)")
      ->capture_default_str()
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  q->add_option("--max-shard-size", qopt.max_shard_bytes,
                "folder outputs: start a new shard file past this size (model-0000K-of-0000N.safetensors + index)")
      ->capture_default_str()
      ->transform(CLI::AsSizeValue(false));
  q->add_option("--journal", qopt.journal_dir,
                "resume journal folder (default OUTPUT.journal); re-running the same command after a crash redoes "
                "only unfinished chunks; removed after success");
  q->add_option("--hessian", qopt.hessian_path,
                "safetensors file of per-tensor Hessians (F32 [cols, cols], keyed by tensor name): pvq encodes the "
                "tensors it names Hessian-aware (use_hessian=true is recorded)");
  q->add_option("--column-max", qopt.column_max_path,
                "safetensors file of per-tensor static column maxima (F32 [cols], keyed by tensor name): crossquant "
                "uses them for the tensors it names (static_columns=true is recorded)");
  std::string progress_style = "auto";
  q->add_option("--progress", progress_style, "progress display: auto (bar on a terminal, lines otherwise), bar, lines, none")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "bar", "lines", "none"}));
  // Remote execution.
  std::string servers, tls_ca, tls_cert, tls_key, token_file;
  RemoteOptions ropt;
  q->add_option("--servers", servers,
                "ADDR[,ADDR...]: quantd servers (HOST:PORT, or dns:///NAME:PORT for one backend per resolved "
                "address, e.g. a Kubernetes headless Service); without it the job runs in-process")
      ->group("Remote execution");
  q->add_option("--window", ropt.window, "chunks in flight per server")->capture_default_str()->check(CLI::Range(1, 1024))
      ->group("Remote execution");
  q->add_option("--retries", ropt.max_attempts, "tries per chunk before the job fails")
      ->capture_default_str()->check(CLI::Range(1, 100))->group("Remote execution");
  q->add_option("--chunk-timeout", ropt.chunk_timeout_seconds, "seconds a chunk may go unanswered before its server is treated as hung")
      ->capture_default_str()->check(CLI::Range(1.0, 86400.0))->group("Remote execution");
  q->add_option("--max-message-bytes", ropt.max_message_bytes, "largest message sent; larger chunks are split")
      ->capture_default_str()->transform(CLI::AsSizeValue(false))->check(CLI::Range(uint64_t{256} << 10, uint64_t{1} << 30))
      ->group("Remote execution");
  q->add_option("--tls-ca", tls_ca, "PEM CA bundle to verify servers with (enables TLS)")->group("Remote execution");
  q->add_option("--tls-cert", tls_cert, "PEM client certificate for mutual TLS")->group("Remote execution");
  q->add_option("--tls-key", tls_key, "PEM key of --tls-cert")->group("Remote execution");
  q->add_option("--tls-server-name", ropt.tls_server_name,
                "the name the servers' certificates must carry (default: the address dialled; set it with "
                "dns:/// targets, whose pod addresses a shared certificate does not name)")
      ->group("Remote execution");
  q->add_option("--token-file", token_file, "file holding the servers' bearer token")->group("Remote execution");
  std::string device = "auto";
  q->add_option("--device", device,
                "where chunks are encoded: auto (a GPU for large chunks when there is one), cpu, or cuda (fail "
                "without one); with --servers, asked of the servers")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  q->add_option("--report", qopt.report_path, "write the per-tensor quality report as JSON to this file");
  q->add_option("--threads", threads, "worker threads for in-process encoding (default: all cores)")
      ->check(CLI::Range(0, 4096));
  method_flags.Register(q);

  // --- dequantize ---
  CLI::App* dq = app.add_subcommand("dequantize", "Decode a quantized checkpoint to floating point");
  DequantizeJobOptions dopt;
  std::string dtype_name;
  dq->add_option("INPUT", dopt.input, "quantized checkpoint (file, index or folder)")->required();
  dq->add_option("OUTPUT", dopt.output, "a .safetensors file or a folder")->required();
  dq->add_option("--dtype", dtype_name, "output dtype of decoded tensors (default: each tensor's source dtype)")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}));
  dq->add_option("--max-shard-size", dopt.max_shard_bytes, "folder outputs: start a new shard file past this size")
      ->capture_default_str()
      ->transform(CLI::AsSizeValue(false));

  // --- inspect ---
  CLI::App* in = app.add_subcommand("inspect", "List a checkpoint's tensors, encodings and metadata");
  std::string inspect_path;
  in->add_option("FILE", inspect_path, "checkpoint (file, index or folder)")->required();

  // --- convert-llama2c ---
  CLI::App* cv = app.add_subcommand("convert-llama2c", "Convert a llama2.c .bin checkpoint to safetensors");
  std::string cv_in, cv_out;
  cv->add_option("INPUT", cv_in, "llama2.c checkpoint (.bin)")->required();
  cv->add_option("OUTPUT", cv_out, "output .safetensors file")->required();

  EvalCommand eval_command;
  eval_command.Register(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "quantctl: " << e.what() << "\nRun with --help for usage.\n";
    return kExitUsage;
  }

  if (*q) {
    std::unique_ptr<tbb::global_control> limit;
    if (threads > 0) {
      limit = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism, threads);
    }
    qopt.plan.method = method;
    qopt.plan.device = *ParseDevice(device);
    for (const std::string& kv : raw_params) {
      auto p = Params::Parse(kv);
      if (!p.ok()) return Fail(InvalidArgumentError("usage: --param " + p.status().message()));
      for (const auto& [k, v] : p->entries()) qopt.plan.params.Set(k, v);
    }
    method_flags.ApplyTo(qopt.plan.params);
    // Parameters that no tensor could accept are usage errors (exit 2), caught before any work.
    if (auto resolved = FindMethod(method)->Resolve(qopt.plan.params, 4096); !resolved.ok()) {
      return Fail(InvalidArgumentError("usage: " + resolved.status().message()));
    }
    for (const std::string& o : overrides) {
      auto rule = OverrideRule::Parse(o);
      if (!rule.ok()) return Fail(InvalidArgumentError("usage: " + rule.status().message()));
      qopt.plan.overrides.push_back(std::move(*rule));
    }
    qopt.progress = progress_style == "auto"  ? Progress::AutoStyle()
                    : progress_style == "bar" ? Progress::Style::kBar
                    : progress_style == "lines" ? Progress::Style::kLines
                                                : Progress::Style::kNone;
    std::unique_ptr<ChunkExecutor> executor;
    if (servers.empty()) {
      executor = std::make_unique<LocalExecutor>();
    } else {
      auto resolved = ResolveServers(servers);
      if (!resolved.ok()) {
        return Fail(resolved.status().code() == StatusCode::kInvalidArgument
                        ? InvalidArgumentError("usage: " + resolved.status().message())
                        : resolved.status());
      }
      ropt.servers = *resolved;
      auto read = [](const std::string& path, const char* what) -> StatusOr<std::string> {
        std::ifstream in(path, std::ios::binary);
        if (!in) return FailedPreconditionError(std::string(what) + " " + path + " cannot be read");
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
      };
      if (!tls_ca.empty() || !tls_cert.empty()) {
        grpc::SslCredentialsOptions ssl;
        if (!tls_ca.empty()) {
          auto ca = read(tls_ca, "--tls-ca");
          if (!ca.ok()) return Fail(ca.status());
          ssl.pem_root_certs = *ca;
        }
        if (!tls_cert.empty() || !tls_key.empty()) {
          auto cert = read(tls_cert, "--tls-cert");
          auto key = read(tls_key, "--tls-key");
          if (!cert.ok()) return Fail(cert.status());
          if (!key.ok()) return Fail(key.status());
          ssl.pem_cert_chain = *cert;
          ssl.pem_private_key = *key;
        }
        ropt.credentials = grpc::SslCredentials(ssl);
      }
      if (!token_file.empty()) {
        auto token = read(token_file, "--token-file");
        if (!token.ok()) return Fail(token.status());
        ropt.token = *token;
        while (!ropt.token.empty() && (ropt.token.back() == '\n' || ropt.token.back() == '\r' || ropt.token.back() == ' ')) {
          ropt.token.pop_back();
        }
      }
      std::cerr << "quantizing on " << ropt.servers.size() << " server(s):";
      for (const auto& s : ropt.servers) std::cerr << " " << s;
      std::cerr << "\n";
      executor = std::make_unique<RemoteExecutor>(ropt);
    }
    auto report = RunQuantizeJob(qopt, *executor, &std::cerr);
    if (!report.ok()) return Fail(report.status());
    report->PrintTable(std::cout);
    return kExitOk;
  }
  if (*dq) {
    if (!dtype_name.empty()) {
      dopt.dtype = dtype_name == "f32" ? DType::kF32 : dtype_name == "f16" ? DType::kF16 : DType::kBF16;
    }
    Status s = RunDequantizeJob(dopt, &std::cerr);
    return s.ok() ? kExitOk : Fail(s);
  }
  if (*eval_command.cmd) return eval_command.Run();
  if (*in) {
    Status s = InspectCheckpoint(inspect_path, std::cout);
    return s.ok() ? kExitOk : Fail(s);
  }
  if (*cv) {
    auto cfg = ConvertLlama2cToSafetensors(cv_in, cv_out);
    if (!cfg.ok()) return Fail(cfg.status());
    std::cout << "wrote " << cv_out << ": dim " << cfg->dim << ", hidden " << cfg->hidden_dim << ", "
              << cfg->n_layers << " layers, " << cfg->n_heads << "/" << cfg->n_kv_heads << " heads, vocab "
              << cfg->vocab_size << ", " << cfg->parameter_count() << " parameters\n";
    return kExitOk;
  }
  return kExitUsage;
}
