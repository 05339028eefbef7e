#include "core/record/chunk_record.h"

#include <xxhash.h>
#if defined(__x86_64__)
// libxxhash's run-time dispatch: the same hashes (XXH3 is defined independently of the SIMD used),
// computed with AVX2 or AVX-512 where the CPU has them instead of the library's SSE2 build; the
// records' checksums were a fifth of an in-process RTN job.
#include <xxh_x86dispatch.h>
#endif

#include <cstdio>
#include <cstring>
#include <limits>

namespace quantd {
namespace {

constexpr char kMagic[4] = {'Q', 'D', 'C', 'R'};
// Part of every chunk key: bump it whenever any method's encoding changes, so that journals
// written before stop matching.
constexpr char kChunkKeyVersion[] = "quantd-chunk-2";
constexpr uint64_t kAlignment = 64;
constexpr uint64_t kPrefixBytes = 16;  // magic, version, header length
// Bounds that no real record reaches; a header claiming more is damaged.
constexpr uint32_t kMaxCount = 1u << 20;

uint64_t AlignUp(uint64_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }

// --- Header encoding -------------------------------------------------------------------------

class Writer {
 public:
  void U32(uint32_t v) { Raw(&v, 4); }
  void U64(uint64_t v) { Raw(&v, 8); }
  void I64(int64_t v) { Raw(&v, 8); }
  void F64(double v) { Raw(&v, 8); }
  void Str(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    Raw(s.data(), s.size());
  }
  void Shape(const std::vector<int64_t>& shape) {
    U32(static_cast<uint32_t>(shape.size()));
    for (int64_t d : shape) I64(d);
  }
  std::vector<uint8_t>& bytes() { return out_; }

 private:
  void Raw(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  std::vector<uint8_t> out_;
};

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  bool ok() const { return ok_; }
  bool done() const { return pos_ == bytes_.size(); }

  uint32_t U32() { return Fixed<uint32_t>(); }
  uint64_t U64() { return Fixed<uint64_t>(); }
  int64_t I64() { return Fixed<int64_t>(); }
  double F64() { return Fixed<double>(); }
  std::string Str() {
    const uint32_t n = U32();
    if (!Need(n)) return {};
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  std::vector<int64_t> Shape() {
    const uint32_t rank = U32();
    std::vector<int64_t> shape;
    if (rank > 64) {
      ok_ = false;
      return shape;
    }
    for (uint32_t i = 0; i < rank && ok_; ++i) shape.push_back(I64());
    return shape;
  }
  uint32_t Count() {
    const uint32_t n = U32();
    if (n > kMaxCount) ok_ = false;
    return ok_ ? n : 0;
  }

 private:
  bool Need(uint64_t n) {
    if (!ok_ || n > bytes_.size() - pos_) ok_ = false;
    return ok_;
  }
  template <typename T>
  T Fixed() {
    T v{};
    if (Need(sizeof(T))) {
      memcpy(&v, bytes_.data() + pos_, sizeof(T));
      pos_ += sizeof(T);
    }
    return v;
  }
  std::span<const uint8_t> bytes_;
  uint64_t pos_ = 0;
  bool ok_ = true;
};

// The header with section offsets filled in; `*offsets` receives each section's offset and
// `*total` where the checksum goes (the end of the last section, padded).
std::vector<uint8_t> EncodeHeader(const ChunkRecord& r, std::vector<uint64_t>* offsets, uint64_t* total) {
  const Encoding& e = r.result.encoding;
  // The section table's size does not depend on the offsets' values, so lay it out twice: once
  // to learn the header's length, then with the final offsets.
  auto build = [&](const std::vector<uint64_t>& offs) {
    Writer w;
    w.Str(r.tensor);
    w.Str(e.method);
    w.Str(std::string(DTypeName(e.source_dtype)));
    w.Shape(e.shape);
    w.I64(e.row_begin);
    w.I64(e.row_end);
    w.I64(e.cols);
    w.U32(static_cast<uint32_t>(e.params.entries().size()));
    for (const auto& [k, v] : e.params.entries()) {
      w.Str(k);
      w.Str(v);
    }
    w.U32(static_cast<uint32_t>(e.stats.size()));
    for (const auto& [k, v] : e.stats) {
      w.Str(k);
      w.F64(v);
    }
    w.U64(r.key.high);
    w.U64(r.key.low);
    w.Str(std::string(DeviceName(r.result.device)));
    w.Str(r.provenance.worker);
    w.F64(r.provenance.seconds);
    w.U32(static_cast<uint32_t>(r.provenance.retries));
    w.I64(r.result.error.count);
    w.F64(r.result.error.signal_energy);
    w.F64(r.result.error.error_energy);
    w.F64(r.result.error.max_abs_error);
    w.U32(static_cast<uint32_t>(e.sections.size()));
    for (size_t i = 0; i < e.sections.size(); ++i) {
      const Section& s = e.sections[i];
      w.Str(s.name);
      w.Str(std::string(DTypeName(s.dtype)));
      w.Shape(s.shape);
      w.U64(offs[i]);
      w.U64(s.data.size());
    }
    return std::move(w.bytes());
  };
  std::vector<uint64_t> offs(e.sections.size(), 0);
  const uint64_t header_bytes = build(offs).size();
  uint64_t pos = AlignUp(kPrefixBytes + header_bytes);
  for (size_t i = 0; i < e.sections.size(); ++i) {
    offs[i] = pos;
    pos = AlignUp(pos + e.sections[i].data.size());
  }
  *offsets = offs;
  *total = pos;  // where the checksum goes
  return build(offs);
}

}  // namespace

std::string ChunkKey::Hex() const {
  char buf[33];
  std::snprintf(buf, sizeof(buf), "%016llx%016llx", static_cast<unsigned long long>(high),
                static_cast<unsigned long long>(low));
  return buf;
}

ChunkKey ComputeChunkKey(const ChunkSpec& spec, std::span<const uint8_t> bytes,
                         const Calibration* calibration) {
  XXH3_state_t* st = XXH3_createState();
  XXH3_128bits_reset(st);
  auto add = [&](const void* p, size_t n) { XXH3_128bits_update(st, p, n); };
  auto add_str = [&](std::string_view s) {
    const uint64_t n = s.size();
    add(&n, sizeof(n));
    add(s.data(), s.size());
  };
  add_str(kChunkKeyVersion);
  add_str(spec.tensor);
  for (int64_t d : spec.shape) add(&d, sizeof(d));
  add_str(DTypeName(spec.dtype));
  const int64_t rows[2] = {spec.row_begin, spec.row_end()};
  add(rows, sizeof(rows));
  add_str(spec.method);
  add_str(spec.params.ToString());
  add(bytes.data(), bytes.size());
  if (calibration != nullptr && !calibration->empty()) {
    add_str("column_max");
    add(calibration->column_max.data(), calibration->column_max.size() * sizeof(float));
    add_str("hessian");
    add(calibration->hessian.data(), calibration->hessian.size() * sizeof(float));
  }
  const XXH128_hash_t h = XXH3_128bits_digest(st);
  XXH3_freeState(st);
  return {h.high64, h.low64};
}

Status WriteChunkRecord(const ChunkRecord& record,
                        const std::function<Status(std::span<const uint8_t>)>& sink) {
  std::vector<uint64_t> offsets;
  uint64_t total = 0;
  const std::vector<uint8_t> header = EncodeHeader(record, &offsets, &total);
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  uint64_t pos = 0;
  auto put = [&](std::span<const uint8_t> piece) -> Status {
    if (piece.empty()) return OkStatus();  // sinks may hand data() to fwrite, which wants non-null
    XXH3_64bits_update(st, piece.data(), piece.size());
    pos += piece.size();
    return sink(piece);
  };
  static const uint8_t kZeros[kAlignment] = {};
  auto pad_to = [&](uint64_t target) -> Status {
    while (pos < target) {
      QUANTD_RETURN_IF_ERROR(put({kZeros, std::min<uint64_t>(kAlignment, target - pos)}));
    }
    return OkStatus();
  };
  Status s = [&]() -> Status {
    uint8_t prefix[kPrefixBytes];
    const uint32_t version = kChunkRecordVersion;
    const uint64_t header_bytes = header.size();
    memcpy(prefix, kMagic, 4);
    memcpy(prefix + 4, &version, 4);
    memcpy(prefix + 8, &header_bytes, 8);
    QUANTD_RETURN_IF_ERROR(put(prefix));
    QUANTD_RETURN_IF_ERROR(put(header));
    const auto& sections = record.result.encoding.sections;
    for (size_t i = 0; i < sections.size(); ++i) {
      QUANTD_RETURN_IF_ERROR(pad_to(offsets[i]));
      QUANTD_RETURN_IF_ERROR(put(sections[i].data));
    }
    QUANTD_RETURN_IF_ERROR(pad_to(total));
    const uint64_t sum = XXH3_64bits_digest(st);
    uint8_t trailer[8];
    memcpy(trailer, &sum, 8);
    return sink(trailer);
  }();
  XXH3_freeState(st);
  return s;
}

std::vector<uint8_t> SerializeChunkRecord(const ChunkRecord& record) {
  std::vector<uint8_t> out;
  Status s = WriteChunkRecord(record, [&](std::span<const uint8_t> piece) {
    out.insert(out.end(), piece.begin(), piece.end());
    return OkStatus();
  });
  (void)s;  // the sink cannot fail
  return out;
}

StatusOr<ChunkRecordView> ParseChunkRecord(std::span<const uint8_t> bytes, bool verify_checksum) {
  auto damaged = [](const std::string& why) { return DataLossError("chunk record is damaged: " + why); };
  if (bytes.size() < kPrefixBytes + 8 || memcmp(bytes.data(), kMagic, 4) != 0)
    return damaged("no record magic");
  uint32_t version = 0;
  uint64_t header_bytes = 0;
  memcpy(&version, bytes.data() + 4, 4);
  memcpy(&header_bytes, bytes.data() + 8, 8);
  if (version != kChunkRecordVersion) {
    return damaged("version " + std::to_string(version) + " (this build reads " +
                   std::to_string(kChunkRecordVersion) + ")");
  }
  const uint64_t body = bytes.size() - 8;
  uint64_t sum = 0;
  memcpy(&sum, bytes.data() + body, 8);
  if (verify_checksum && XXH3_64bits(bytes.data(), body) != sum) return damaged("checksum mismatch");
  if (header_bytes > body - kPrefixBytes) return damaged("header length past the end");

  Reader r(bytes.subspan(kPrefixBytes, header_bytes));
  ChunkRecordView v;
  Encoding& e = v.header;
  v.tensor = r.Str();
  e.method = r.Str();
  const std::string source_dtype = r.Str();
  e.shape = r.Shape();
  e.row_begin = r.I64();
  e.row_end = r.I64();
  e.cols = r.I64();
  for (uint32_t i = 0, n = r.Count(); i < n && r.ok(); ++i) {
    std::string k = r.Str();
    e.params.Set(k, r.Str());
  }
  for (uint32_t i = 0, n = r.Count(); i < n && r.ok(); ++i) {
    std::string k = r.Str();
    e.stats[k] = r.F64();
  }
  v.key.high = r.U64();
  v.key.low = r.U64();
  const std::string device = r.Str();
  v.provenance.worker = r.Str();
  v.provenance.seconds = r.F64();
  v.provenance.retries = static_cast<int32_t>(r.U32());
  v.error.count = r.I64();
  v.error.signal_energy = r.F64();
  v.error.error_energy = r.F64();
  v.error.max_abs_error = r.F64();
  const uint32_t nsec = r.Count();
  for (uint32_t i = 0; i < nsec && r.ok(); ++i) {
    ChunkRecordView::SectionView s;
    s.name = r.Str();
    const std::string dt = r.Str();
    s.shape = r.Shape();
    const uint64_t offset = r.U64();
    const uint64_t length = r.U64();
    if (!r.ok()) break;
    const auto parsed = ParseDType(dt);
    if (!parsed) return damaged("section '" + s.name + "' has unknown dtype '" + dt + "'");
    s.dtype = *parsed;
    auto count = MatrixShapeOf(s.shape);
    if (!count.ok() || static_cast<uint64_t>(count->num_elements()) * DTypeSize(s.dtype) != length) {
      return damaged("section '" + s.name + "' length does not match its shape");
    }
    if (offset < kPrefixBytes + header_bytes || offset > body || length > body - offset) {
      return damaged("section '" + s.name + "' lies outside the record");
    }
    s.data = bytes.subspan(offset, length);
    v.sections.push_back(std::move(s));
  }
  if (!r.ok() || !r.done()) return damaged("malformed header");
  const auto dt = ParseDType(source_dtype);
  if (!dt) return damaged("unknown source dtype '" + source_dtype + "'");
  e.source_dtype = *dt;
  auto dev = ParseDevice(device);
  if (!dev.ok()) return damaged("unknown device '" + device + "'");
  v.device = *dev;
  return v;
}

Encoding ChunkRecordView::ToEncoding() const {
  Encoding e = header;
  e.sections.clear();
  for (const SectionView& s : sections) {
    Section out;
    out.name = s.name;
    out.dtype = s.dtype;
    out.shape = s.shape;
    out.data.assign(s.data.begin(), s.data.end());
    e.sections.push_back(std::move(out));
  }
  return e;
}

}  // namespace quantd
