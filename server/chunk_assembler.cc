#include "server/chunk_assembler.h"

#include "proto/convert.h"

namespace quantd::server {
namespace {

std::string Who(const quantd::v1::QuantizeRequest& m) {
  return "chunk " + std::to_string(m.chunk_id()) + " of tensor '" + m.tensor_name() + "'";
}

}  // namespace

bool ChunkAssembler::HasChunkPart(const quantd::v1::QuantizeRequest& m) {
  return !m.tensor_name().empty() || m.row_count() != 0 || m.shape_size() > 0 || !m.data().empty() ||
         m.data_offset() != 0 || m.has_params();
}

std::string ReceivedChunk::Describe() const {
  return "chunk " + std::to_string(chunk_id) + " of tensor '" + spec.tensor + "'";
}

StatusOr<ReceivedChunk> ValidateChunkHeader(const quantd::v1::QuantizeRequest& m, uint64_t max_chunk_bytes) {
  const std::string who = Who(m);
  ReceivedChunk c;
  c.chunk_id = m.chunk_id();
  auto spec = rpc::ChunkSpecFromRequest(m);
  if (!spec.ok()) return spec.status().WithContext(who);
  c.spec = std::move(*spec);
  if (Status s = ValidateChunkSpec(c.spec); !s.ok())
    return s.WithContext("chunk " + std::to_string(m.chunk_id()));
  auto device = rpc::FromProto(m.device());
  if (!device.ok()) return device.status().WithContext(who);
  c.device = *device;
  const uint64_t total = ChunkSourceBytes(c.spec);
  if (total > max_chunk_bytes) {
    return ResourceExhaustedError(who + ": " + std::to_string(total) +
                                  " bytes can never fit in the server's " + std::to_string(max_chunk_bytes) +
                                  "-byte budget (--max-inflight-bytes); send smaller chunks");
  }
  const int64_t cols = c.spec.cols();
  if (m.column_max_size() != 0 && m.column_max_size() != cols) {
    return InvalidArgumentError(who + ": column_max has " + std::to_string(m.column_max_size()) +
                                " values, rows have " + std::to_string(cols));
  }
  c.column_max.assign(m.column_max().begin(), m.column_max().end());
  c.hessian_key = m.hessian_key();
  c.budget_bytes = total;
  return c;
}

ChunkAssembler::Need ChunkAssembler::Inspect(const quantd::v1::QuantizeRequest& m) const {
  Need need;
  if (m.has_blob()) {
    const auto& b = m.blob();
    auto it = blobs_.find(b.key());
    if (b.key().empty()) {
      need.stream_error = InvalidArgumentError("blob part has an empty key");
    } else if (it == blobs_.end()) {
      if (b.total_bytes() == 0 || b.total_bytes() > max_bytes_) {
        need.stream_error =
            (b.total_bytes() == 0
                 ? InvalidArgumentError("blob '" + b.key() + "': total_bytes is 0")
                 : ResourceExhaustedError("blob '" + b.key() + "' of " + std::to_string(b.total_bytes()) +
                                          " bytes exceeds the server's budget"));
      } else if (b.offset() != 0 || b.data().size() > b.total_bytes()) {
        need.stream_error =
            InvalidArgumentError("blob '" + b.key() + "': first part must start at offset 0 and fit");
      } else {
        need.bytes += b.total_bytes();
      }
    } else if (it->second.data.size() == it->second.total) {
      need.stream_error = InvalidArgumentError("blob '" + b.key() + "' was already uploaded on this stream");
    } else if (b.offset() != it->second.data.size() || b.offset() + b.data().size() > it->second.total) {
      need.stream_error =
          InvalidArgumentError("blob '" + b.key() + "': part at offset " + std::to_string(b.offset()) +
                               " does not continue at " + std::to_string(it->second.data.size()));
    }
  }
  if (!HasChunkPart(m)) return need;
  need.chunk_id = m.chunk_id();
  if (failed_.count(m.chunk_id())) {
    need.ignore_chunk = true;  // one answer per chunk: the failure was already answered
    return need;
  }
  auto it = pending_.find(m.chunk_id());
  if (it == pending_.end()) {
    auto header = ValidateChunkHeader(m, max_bytes_);
    if (!header.ok()) {
      need.chunk_error = header.status();
    } else if (m.data_offset() != 0 || m.data().size() > header->budget_bytes) {
      need.chunk_error =
          InvalidArgumentError(Who(m) + ": the first part must start at data_offset 0 and hold at most " +
                               std::to_string(header->budget_bytes) + " bytes");
    } else {
      need.bytes += header->budget_bytes;
    }
  } else {
    const ReceivedChunk& c = it->second;
    if (m.data_offset() != c.data.size() || m.data().size() > c.budget_bytes - c.data.size()) {
      need.chunk_error = InvalidArgumentError(
          c.Describe() + ": the split does not reassemble (part at offset " +
          std::to_string(m.data_offset()) + " with " + std::to_string(m.data().size()) + " bytes after " +
          std::to_string(c.data.size()) + " of " + std::to_string(c.budget_bytes) + ")");
    }
  }
  return need;
}

ChunkAssembler::Result ChunkAssembler::Accept(quantd::v1::QuantizeRequest&& m, const Need& need) {
  Result r;
  if (m.has_blob() && need.stream_error.ok()) {
    auto& b = *m.mutable_blob();
    PendingBlob& pb = blobs_[b.key()];
    if (pb.total == 0) {
      pb.total = b.total_bytes();
      pb.data.reserve(pb.total);
    }
    pb.data.append(b.data());
  }
  if (!HasChunkPart(m) || need.ignore_chunk) return r;
  auto it = pending_.find(m.chunk_id());
  if (!need.chunk_error.ok()) {
    // Later parts of this chunk, if any, are dropped quietly (see Need::ignore_chunk).
    if (failed_.size() < kMaxFailedChunks) failed_.insert(m.chunk_id());
    if (it != pending_.end()) {  // a broken continuation drops the whole chunk
      r.released += it->second.budget_bytes;
      pending_.erase(it);
    }
    return r;
  }
  if (it == pending_.end()) {
    auto header = ValidateChunkHeader(m, max_bytes_);  // succeeded in Inspect
    it = pending_.emplace(m.chunk_id(), std::move(*header)).first;
    if (m.data().size() == it->second.budget_bytes) {
      it->second.data.swap(*m.mutable_data());  // a whole chunk in one message: no copy
    } else {
      it->second.data.reserve(it->second.budget_bytes);
    }
  }
  if (it->second.data.size() < it->second.budget_bytes) it->second.data.append(m.data());
  if (it->second.data.size() == it->second.budget_bytes) {
    r.complete = std::move(it->second);
    pending_.erase(it);
  }
  return r;
}

const std::string* ChunkAssembler::Blob(const std::string& key) const {
  auto it = blobs_.find(key);
  if (it == blobs_.end() || it->second.data.size() != it->second.total) return nullptr;
  return &it->second.data;
}

std::vector<uint64_t> ChunkAssembler::IncompleteChunks() const {
  std::vector<uint64_t> ids;
  for (const auto& [id, c] : pending_) ids.push_back(id);
  return ids;
}

uint64_t ChunkAssembler::HeldBytes() const {
  uint64_t n = 0;
  for (const auto& [id, c] : pending_) n += c.budget_bytes;
  for (const auto& [k, b] : blobs_) n += b.total;
  return n;
}

}  // namespace quantd::server
