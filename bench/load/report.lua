-- Shared by the wrk scripts: one JSON line with throughput and latency percentiles (ms).
function done(summary, latency, requests)
    local seconds = summary.duration / 1e6
    local errors = summary.errors
    io.write(string.format(
        '{"requests": %d, "seconds": %.2f, "rps": %.1f, "p50_ms": %.2f, "p90_ms": %.2f, "p99_ms": %.2f, ' ..
        '"max_ms": %.2f, "non_2xx": %d, "socket_errors": %d}\n',
        summary.requests, seconds, summary.requests / seconds,
        latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
        latency.max / 1e3, errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
