#include "client/remote/remote_executor.h"

#include <thread>

#include "client/remote/dispatcher.h"

namespace quantd::client {

RemoteExecutor::RemoteExecutor(RemoteOptions options, std::unique_ptr<Transport> transport)
    : options_(std::move(options)), transport_(std::move(transport)) {}

Status RemoteExecutor::RunAll(std::span<const ChunkInput> chunks, Device device, const ChunkDone& on_done) {
  if (options_.servers.empty()) return InvalidArgumentError("no servers");
  if (chunks.empty()) return OkStatus();
  Dispatcher dispatcher(chunks, device, on_done, options_.servers, options_.retry);
  std::vector<std::thread> backends;
  for (size_t b = 0; b < options_.servers.size(); ++b) {
    backends.emplace_back([&, b] {
      while (dispatcher.WaitForWork(b)) ServerSession(dispatcher, *transport_, b, options_.session).Run();
    });
  }
  for (auto& t : backends) t.join();
  return dispatcher.Result();
}

}  // namespace quantd::client
