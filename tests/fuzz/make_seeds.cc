// Writes the fuzz targets' seed corpora, from real encodings of stories260K's weights:
//   make_seeds OUT_DIR   ->  OUT_DIR/{record,dequantize,stream,safetensors}/seed-N
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "client/io/safetensors_writer.h"
#include "core/record/chunk_record.h"
#include "proto/convert.h"
#include "quantd/core/quantize.h"
#include "tests/testing/random_tensors.h"
#include "tests/testing/real_weights.h"

namespace {

namespace fs = std::filesystem;
using namespace quantd;

void Write(const fs::path& dir, int n, const void* data, size_t size) {
  fs::create_directories(dir);
  std::ofstream(dir / ("seed-" + std::to_string(n)), std::ios::binary)
      .write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
}

void AppendMessage(std::string* out, const google::protobuf::Message& m) {
  const std::string bytes = m.SerializeAsString();
  const uint16_t len = static_cast<uint16_t>(bytes.size());
  out->append(reinterpret_cast<const char*>(&len), 2);
  out->append(bytes);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds OUT_DIR\n");
    return 2;
  }
  const fs::path out = argv[1];
  std::string error;
  const testing::Llama2cWeights w =
      testing::ReadLlama2c(testing::RealDataDir() + "/stories260K/stories260K.bin", &error);
  if (!error.empty()) {
    std::fprintf(stderr, "make_seeds: %s\n", error.c_str());
    return 1;
  }
  const testing::Llama2cMatrix& m = *w.Find("layers.0.attention.wq.weight");  // 64 x 64
  const int64_t rows = 16;
  const std::vector<int64_t> shape = {m.rows, m.cols};
  const Params settings[][2] = {
      {{{"bits", "4"}}, {{"bits", "3"}, {"group_size", "16"}, {"scale_dtype", "f32"}}},
      {{{"bits", "2"}}, {{"bits", "3"}, {"transform", "dct"}, {"non_converged", "quantize"}}},
      {{}, {{"bits", "2.5"}, {"group_size", "16"}, {"search", "greedy"}}},
      {{}, {{"bits", "4"}, {"alpha", "0.5"}, {"scale_dtype", "f16"}}},
  };
  const char* methods[] = {"rtn", "kashin", "pvq", "crossquant"};
  int n = 0;
  for (int mi = 0; mi < 4; ++mi) {
    for (const Params& p : settings[mi]) {
      const Chunk chunk{.tensor_name = m.name,
                        .shape = shape,
                        .row_begin = 16,
                        .rows = rows,
                        .cols = m.cols,
                        .data = std::span<const float>(m.data.data() + 16 * m.cols, rows * m.cols)};
      auto r = EncodeAndMeasure(chunk, methods[mi], p);
      if (!r.ok()) {
        std::fprintf(stderr, "make_seeds: %s\n", r.status().ToString().c_str());
        return 1;
      }
      v1::DequantizeRequest dq;
      rpc::ToProto(r->encoding, dq.mutable_encoding());
      const std::string dq_bytes = dq.SerializeAsString();
      Write(out / "dequantize", n, dq_bytes.data(), dq_bytes.size());
      const std::vector<uint8_t> record = SerializeChunkRecord(ChunkRecord{
          .tensor = m.name, .result = std::move(*r), .key = {1, 2}, .provenance = {.worker = "seed"}});
      Write(out / "record", n, record.data(), record.size());
      // A stream: the same rows as one chunk, then split in two parts.
      ChunkSpec spec{.tensor = m.name,
                     .shape = shape,
                     .dtype = DType::kF32,
                     .row_begin = 16,
                     .row_count = rows,
                     .method = methods[mi],
                     .params = p};
      const char* bytes = reinterpret_cast<const char*>(m.data.data() + 16 * m.cols);
      const size_t total = static_cast<size_t>(rows * m.cols * 4);
      std::string stream;
      v1::QuantizeRequest whole;
      whole.set_chunk_id(1);
      rpc::ToRequestHeader(spec, Device::kCpu, &whole);
      whole.set_data(bytes, total);
      AppendMessage(&stream, whole);
      v1::QuantizeRequest first = whole, second;
      first.set_chunk_id(2);
      first.set_data(bytes, total / 2);
      second.set_chunk_id(2);
      second.set_data_offset(total / 2);
      second.set_data(bytes + total / 2, total - total / 2);
      AppendMessage(&stream, first);
      AppendMessage(&stream, second);
      Write(out / "stream", n, stream.data(), stream.size());
      ++n;
    }
  }
  // A stream with a Hessian blob and a chunk that references it.
  {
    const std::vector<float> h = [&] {
      std::vector<float> x = testing::Gaussian(64 * 64, 3), hh(64 * 64, 0.0f);
      for (int a = 0; a < 64; ++a) {
        for (int b = 0; b < 64; ++b) {
          for (int t = 0; t < 64; ++t) hh[a * 64 + b] += x[t * 64 + a] * x[t * 64 + b];
        }
      }
      return hh;
    }();
    v1::QuantizeRequest blob;
    blob.mutable_blob()->set_key("h");
    blob.mutable_blob()->set_total_bytes(h.size() * 4);
    blob.mutable_blob()->set_data(reinterpret_cast<const char*>(h.data()), h.size() * 4);
    ChunkSpec spec{.tensor = m.name,
                   .shape = shape,
                   .dtype = DType::kF32,
                   .row_begin = 0,
                   .row_count = 4,
                   .method = "pvq",
                   .params = {{"use_hessian", "true"}}};
    v1::QuantizeRequest chunk;
    chunk.set_chunk_id(1);
    rpc::ToRequestHeader(spec, Device::kCpu, &chunk);
    chunk.set_hessian_key("h");
    chunk.set_data(reinterpret_cast<const char*>(m.data.data()), 4 * 64 * 4);
    std::string stream;
    AppendMessage(&stream, blob);
    AppendMessage(&stream, chunk);
    Write(out / "stream", n++, stream.data(), stream.size());
  }
  // Safetensors headers: the first tensors of the model, and with metadata.
  for (int k = 0; k < 2; ++k) {
    std::vector<client::TensorToWrite> tensors;
    for (size_t i = 0; i < 6; ++i) {
      const auto& t = w.tensors[i];
      tensors.push_back(client::TensorToWrite::FromBytes(
          t.name, DType::kF32,
          t.is_norm() ? std::vector<int64_t>{t.cols} : std::vector<int64_t>{t.rows, t.cols},
          {reinterpret_cast<const uint8_t*>(t.data.data()), t.data.size() * 4}));
    }
    std::map<std::string, std::string> meta;
    if (k == 1) meta = {{"format", "pt"}, {"quantd.format", "1"}};
    const std::string header = client::SafetensorsHeader(tensors, meta);
    uint64_t data_size = 0;
    for (const auto& t : tensors) {
      uint64_t b = 4;
      for (int64_t d : t.shape) b *= static_cast<uint64_t>(d);
      data_size += b;
    }
    std::string seed(reinterpret_cast<const char*>(&data_size), 8);
    seed += header;
    Write(out / "safetensors", k, seed.data(), seed.size());
  }
  std::printf("make_seeds: wrote seeds under %s\n", out.c_str());
  return 0;
}
