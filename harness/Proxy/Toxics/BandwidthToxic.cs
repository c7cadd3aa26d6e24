namespace Dtx.Harness.Proxy;

/// <summary>
/// <c>bandwidth</c> {rate KB/s}: each chunk costs <c>bytes / rate</c> ms, so the unit is 1000 B/s. A chunk larger than
/// 100 ms' worth is sent in 100 ms pieces. The sleep debt is carried over so timer granularity does not add up.
/// rate ≤ 0 means unlimited.
/// </summary>
internal sealed class BandwidthToxic() : Toxic("rate")
{
    public override string Type => "bandwidth";

    private long Rate => this[0];

    public override async Task PipeAsync(ToxicStub stub, CancellationToken interrupt)
    {
        long rate = Rate;
        var debt = TimeSpan.Zero;
        while (await stub.ReadAsync(interrupt).ConfigureAwait(false) is { } received)
        {
            var chunk = received;
            if (rate <= 0)
            {
                await stub.WriteAsync(chunk).ConfigureAwait(false);
                continue;
            }
            debt += TimeSpan.FromTicks(chunk.Data.Length * TimeSpan.TicksPerMillisecond / rate);
            long slice = rate * 100; // bytes per 100 ms
            while (chunk.Data.Length > slice)
            {
                if (!await SleepAsync(TimeSpan.FromMilliseconds(100), interrupt).ConfigureAwait(false))
                {
                    await stub.WriteAsync(chunk).ConfigureAwait(false);
                    return;
                }
                await stub.WriteAsync(chunk with { Data = chunk.Data[..(int)slice] }).ConfigureAwait(false);
                chunk = chunk with { Data = chunk.Data[(int)slice..] };
                debt -= TimeSpan.FromMilliseconds(100);
            }
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            bool slept = await SleepAsync(debt, interrupt).ConfigureAwait(false);
            debt -= System.Diagnostics.Stopwatch.GetElapsedTime(start);
            await stub.WriteAsync(chunk).ConfigureAwait(false);
            if (!slept) return;
        }
        stub.Close();
    }

    /// <summary>False if interrupted.</summary>
    private static async Task<bool> SleepAsync(TimeSpan duration, CancellationToken interrupt)
    {
        if (duration <= TimeSpan.Zero) return !interrupt.IsCancellationRequested;
        try { await Task.Delay(duration, interrupt).ConfigureAwait(false); return true; }
        catch (OperationCanceledException) { return false; }
    }
}
