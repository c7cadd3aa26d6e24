namespace Dtx.Harness.Proxy;

/// <summary><c>slow_close</c> {delay ms}: data passes untouched; the end of the stream is passed on <c>delay</c> later.</summary>
internal sealed class SlowCloseToxic() : Toxic("delay")
{
    public override string Type => "slow_close";

    private long DelayMs => this[0];

    public override async Task PipeAsync(ToxicStub stub, CancellationToken interrupt)
    {
        while (await stub.ReadAsync(interrupt).ConfigureAwait(false) is { } chunk)
            await stub.WriteAsync(chunk).ConfigureAwait(false);
        // Interrupted during the delay: return without closing; the restarted stub sees end of stream again.
        await Task.Delay(TimeSpan.FromMilliseconds(Math.Max(0, DelayMs)), interrupt).ConfigureAwait(false);
        stub.Close();
    }
}
