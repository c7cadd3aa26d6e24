namespace Dtx.Harness.Proxy;

/// <summary>
/// <c>timeout</c> {timeout ms}: drops all data. With timeout &gt; 0 the connection is closed once no chunk has arrived for
/// that long (Go re-arms its timer on every chunk); with 0 data is dropped until the toxic goes. Removing it closes the
/// connections it held (<see cref="ClosesOnRemove"/>), because the data it swallowed cannot be given back.
/// </summary>
internal sealed class TimeoutToxic() : Toxic("timeout")
{
    public override string Type => "timeout";

    public override bool ClosesOnRemove => true;

    private long TimeoutMs => this[0];

    public override async Task PipeAsync(ToxicStub stub, CancellationToken interrupt)
    {
        long timeout = TimeoutMs;
        while (true)
        {
            using var idle = CancellationTokenSource.CreateLinkedTokenSource(interrupt);
            if (timeout > 0) idle.CancelAfter(TimeSpan.FromMilliseconds(timeout));
            Chunk? chunk;
            try { chunk = await stub.ReadAsync(idle.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) when (!interrupt.IsCancellationRequested)
            {
                break; // idle for `timeout` ms
            }
            if (chunk is null) break; // end of stream
            // Otherwise: drop the data on the ground.
        }
        stub.Close();
    }
}
