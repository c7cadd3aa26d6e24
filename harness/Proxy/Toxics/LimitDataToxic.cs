namespace Dtx.Harness.Proxy;

/// <summary>
/// <c>limit_data</c> {bytes}: forwards at most <c>bytes</c> in total on this connection and direction (truncating the last
/// chunk), then closes it. The count lives in per-connection state, so it survives updates of the toxic.
/// </summary>
internal sealed class LimitDataToxic() : Toxic("bytes")
{
    public override string Type => "limit_data";

    private long Bytes => this[0];

    public override object? NewState() => new Counter();

    public override async Task PipeAsync(ToxicStub stub, CancellationToken interrupt)
    {
        var sent = (Counter)stub.State!;
        while (await stub.ReadAsync(interrupt).ConfigureAwait(false) is { } chunk)
        {
            long remaining = Math.Max(0, Bytes - sent.Value);
            var data = chunk.Data.Length > remaining ? chunk.Data[..(int)remaining] : chunk.Data;
            if (data.Length > 0)
            {
                await stub.WriteAsync(chunk with { Data = data }).ConfigureAwait(false);
                sent.Value += data.Length;
            }
            if (Bytes - sent.Value <= 0) break;
        }
        stub.Close();
    }

    private sealed class Counter
    {
        public long Value;
    }
}
