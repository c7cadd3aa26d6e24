using System.Diagnostics;

namespace Dtx.Harness.Proxy;

/// <summary>
/// <c>latency</c> {latency ms, jitter ms}: each chunk leaves <c>latency ± jitter</c> after it <em>arrived</em>, so a
/// steady stream is shifted rather than slowed; order is kept; up to 1024 chunks queue. Removal flushes without delay.
/// </summary>
internal sealed class LatencyToxic() : Toxic("latency", "jitter")
{
    public override string Type => "latency";

    public override int BufferSize => 1024;

    private long LatencyMs => this[0];
    private long JitterMs => this[1];

    public override async Task PipeAsync(ToxicStub stub, CancellationToken interrupt)
    {
        while (await stub.ReadAsync(interrupt).ConfigureAwait(false) is { } chunk)
        {
            var wait = Delay() - Stopwatch.GetElapsedTime(chunk.Timestamp);
            var next = chunk;
            if (wait > TimeSpan.Zero)
            {
                try { await Task.Delay(wait, interrupt).ConfigureAwait(false); }
                catch (OperationCanceledException)
                {
                    await stub.WriteAsync(chunk).ConfigureAwait(false); // never drop data on interrupt
                    return;
                }
                // Later toxics measure from when this one released the chunk, as Go moves the timestamp on.
                next = chunk with { Timestamp = chunk.Timestamp + (long)(wait.TotalSeconds * Stopwatch.Frequency) };
            }
            await stub.WriteAsync(next).ConfigureAwait(false);
        }
        stub.Close();
    }

    /// <summary>Go: <c>latency + rand.Int63n(2*jitter) - jitter</c>, i.e. uniform in [latency−jitter, latency+jitter).</summary>
    private TimeSpan Delay()
    {
        long ms = LatencyMs;
        if (JitterMs > 0) ms += Random.Shared.NextInt64(2 * JitterMs) - JitterMs;
        return TimeSpan.FromMilliseconds(ms);
    }
}
