namespace Dtx.Harness.Proxy;

/// <summary>
/// <c>slicer</c> {average_size B, size_variation B, delay µs}: splits each chunk into pieces of about
/// <c>average_size ± size_variation</c> bytes, by recursive halving as Go's <c>chunk()</c> does, and waits <c>delay</c>
/// microseconds between pieces. Nothing is lost: on interrupt the rest of the chunk goes out in one piece.
/// </summary>
internal sealed class SlicerToxic() : Toxic("average_size", "size_variation", "delay")
{
    public override string Type => "slicer";

    private long AverageSize => this[0];
    private long SizeVariation => this[1];
    private long DelayMicroseconds => this[2];

    public override async Task PipeAsync(ToxicStub stub, CancellationToken interrupt)
    {
        var delay = TimeSpan.FromTicks(Math.Max(0, DelayMicroseconds) * 10);
        while (await stub.ReadAsync(interrupt).ConfigureAwait(false) is { } chunk)
        {
            var cuts = new List<int> { 0 };
            Cut(0, chunk.Data.Length, cuts);
            for (int i = 1; i < cuts.Count; i++)
            {
                await stub.WriteAsync(chunk with { Data = chunk.Data[cuts[i - 1]..cuts[i]] }).ConfigureAwait(false);
                if (i == cuts.Count - 1) break;
                try
                {
                    if (delay > TimeSpan.Zero) await Task.Delay(delay, interrupt).ConfigureAwait(false);
                    else interrupt.ThrowIfCancellationRequested();
                }
                catch (OperationCanceledException)
                {
                    await stub.WriteAsync(chunk with { Data = chunk.Data[cuts[i]..] }).ConfigureAwait(false);
                    return;
                }
            }
        }
        stub.Close();
    }

    /// <summary>Appends the end offsets of the pieces of [start, end) to <paramref name="cuts"/>.</summary>
    private void Cut(int start, int end, List<int> cuts)
    {
        long average = Math.Max(1, AverageSize), variation = Math.Max(0, SizeVariation);
        if (end - start - average <= variation)
        {
            cuts.Add(end);
            return;
        }
        long offset = variation > 0 ? Random.Shared.NextInt64(variation * 2) - variation : 0;
        // Clamped so every piece is non-empty; Go relies on the variation being smaller than half the chunk.
        int mid = (int)Math.Clamp(start + (end - start) / 2 + offset, start + 1, end - 1);
        Cut(start, mid, cuts);
        Cut(mid, end, cuts);
    }
}
