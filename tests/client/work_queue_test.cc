// The remote run's bookkeeping (client/remote/work_queue.h), rule by rule, with the time given.
#include "client/remote/work_queue.h"

#include <gtest/gtest.h>

#include "tests/testing/test_util.h"

namespace quantd::client {
namespace {

using ::quantd::testing::StatusIs;
using Clock = WorkQueue::Clock;
using std::chrono::milliseconds;

WorkQueue::Options Opts(int attempts = 3, int backend_failures = 2) {
  return {.max_attempts = attempts,
          .max_backend_failures = backend_failures,
          .backoff_initial_seconds = 0.25,
          .backoff_max_seconds = 1};
}

TEST(WorkQueueTest, TakesInOrderAndFinishesWhenAllAreDone) {
  WorkQueue q(3, {"a", "b"}, Opts());
  EXPECT_EQ(q.Take(), 0u);
  EXPECT_EQ(q.Take(), 1u);
  EXPECT_EQ(q.Take(), 2u);
  EXPECT_FALSE(q.Take().has_value());
  EXPECT_FALSE(q.has_pending());
  for (size_t t = 0; t < 3; ++t) {
    EXPECT_FALSE(q.finished());
    q.Completed(t, 0);
  }
  EXPECT_TRUE(q.finished());
  EXPECT_TRUE(q.failure().ok());
}

// A chunk given back goes first, and fails the run after its last try, naming it and every
// server.
TEST(WorkQueueTest, RetriesGoFirstAndAreBounded) {
  WorkQueue q(3, {"a:1", "b:2"}, Opts(/*attempts=*/3));
  ASSERT_EQ(q.Take(), 0u);
  ASSERT_EQ(q.Take(), 1u);
  q.Retry(1, "tensor 't' rows 4..8 on a:1: UNAVAILABLE: gone");
  EXPECT_EQ(q.attempts(1), 1);
  EXPECT_EQ(q.Take(), 1u);
  q.Retry(1, "x");
  EXPECT_EQ(q.Take(), 1u);
  EXPECT_FALSE(q.finished());
  q.Retry(1, "tensor 't' rows 4..8 on b:2: UNAVAILABLE: gone again");
  EXPECT_TRUE(q.finished());
  EXPECT_THAT(q.failure(),
              StatusIs(StatusCode::kUnavailable,
                       "no quantd server could make progress: tensor 't' rows 4..8 on b:2: "
                       "UNAVAILABLE: gone again (try 3 of 3); servers: [a:1: no error] [b:2: no error]"));
  EXPECT_FALSE(q.Take().has_value());  // a failed run hands out nothing
}

TEST(WorkQueueTest, BackoffDoublesUpToTheMaximumAndResetsOnSuccess) {
  WorkQueue q(4, {"a", "b"}, Opts(3, /*backend_failures=*/10));
  const auto t0 = Clock::now();
  EXPECT_LE(q.ready_at(0), t0);
  q.BackendFailed(0, "refused", t0);
  EXPECT_EQ(q.ready_at(0), t0 + milliseconds(250));
  q.BackendFailed(0, "refused", t0);
  EXPECT_EQ(q.ready_at(0), t0 + milliseconds(500));
  q.BackendFailed(0, "refused", t0);
  q.BackendFailed(0, "refused", t0);
  EXPECT_EQ(q.ready_at(0), t0 + milliseconds(1000));  // capped
  EXPECT_LE(q.ready_at(1), t0);                       // the other backend is untouched
  q.Completed(*q.Take(), 0);
  q.BackendFailed(0, "refused", t0);
  EXPECT_EQ(q.ready_at(0), t0 + milliseconds(250));  // the streak restarted
}

// The run fails once every backend has failed its budget in a row, with each one's last error.
TEST(WorkQueueTest, FailureBudgetCoversEveryBackend) {
  WorkQueue q(2, {"a:1", "b:2"}, Opts(5, /*backend_failures=*/2));
  const auto now = Clock::now();
  q.BackendFailed(0, "UNAVAILABLE: refused", now);
  q.BackendFailed(0, "UNAVAILABLE: refused", now);
  EXPECT_FALSE(q.finished());  // b is still within its budget
  q.BackendFailed(1, "CANCELLED: timed out", now);
  EXPECT_FALSE(q.finished());
  q.BackendFailed(1, "CANCELLED: timed out", now);
  EXPECT_THAT(q.failure(), StatusIs(StatusCode::kUnavailable,
                                    "no quantd server could make progress: [a:1: UNAVAILABLE: refused] "
                                    "[b:2: CANCELLED: timed out]"));
}

TEST(WorkQueueTest, FirstFailureIsKept) {
  WorkQueue q(1, {"a"}, Opts());
  q.Fail(InvalidArgumentError("first"));
  q.Fail(InternalError("second"));
  EXPECT_EQ(q.failure(), InvalidArgumentError("first"));
  EXPECT_TRUE(q.finished());
}

// What a status means for a run: only codes about a server at a moment are retried elsewhere.
TEST(WorkQueueTest, StatusCodeSemantics) {
  for (StatusCode c : {StatusCode::kUnavailable, StatusCode::kResourceExhausted,
                       StatusCode::kDeadlineExceeded, StatusCode::kAborted, StatusCode::kCancelled}) {
    EXPECT_EQ(ActionForChunkError(c), ChunkErrorAction::kRetryElsewhere) << StatusCodeName(c);
    EXPECT_EQ(ActionForStreamEnd(c), StreamEndAction::kBackendFailed) << StatusCodeName(c);
  }
  for (StatusCode c : {StatusCode::kInvalidArgument, StatusCode::kFailedPrecondition, StatusCode::kInternal,
                       StatusCode::kUnknown, StatusCode::kUnimplemented, StatusCode::kDataLoss}) {
    EXPECT_EQ(ActionForChunkError(c), ChunkErrorAction::kFailJob) << StatusCodeName(c);
  }
  for (StatusCode c :
       {StatusCode::kUnauthenticated, StatusCode::kPermissionDenied, StatusCode::kInvalidArgument,
        StatusCode::kFailedPrecondition, StatusCode::kUnimplemented}) {
    EXPECT_EQ(ActionForStreamEnd(c), StreamEndAction::kFailJob) << StatusCodeName(c);
  }
  // A stream that breaks with INTERNAL or UNKNOWN is a broken connection, not a bad chunk.
  EXPECT_EQ(ActionForStreamEnd(StatusCode::kInternal), StreamEndAction::kBackendFailed);
  EXPECT_EQ(ActionForStreamEnd(StatusCode::kUnknown), StreamEndAction::kBackendFailed);
}

}  // namespace
}  // namespace quantd::client
