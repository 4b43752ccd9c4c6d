-- report.lua — the done() every bench script shares: one machine-readable line that
-- run.sh parses. Latencies are in microseconds, bytes are whole responses (headers
-- and body) as wrk read them.
function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d duration_us=%d bytes=%d err_connect=%d err_read=%d " ..
      "err_write=%d err_status=%d err_timeout=%d p50_us=%d p90_us=%d p99_us=%d " ..
      "max_us=%d mean_us=%d\n",
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
      e.status, e.timeout, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, math.floor(latency.mean)))
end
