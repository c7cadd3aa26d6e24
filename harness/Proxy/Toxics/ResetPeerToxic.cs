namespace Dtx.Harness.Proxy;

/// <summary>
/// <c>reset_peer</c> {timeout ms}: on the first chunk (or end of stream) after it becomes active, waits <c>timeout</c> and
/// closes the connection. Connections <em>opened</em> while the toxic exists have SO_LINGER 0 on both sockets
/// (<see cref="ResetsOnClose"/>), so that close is a TCP RST and the peer sees ECONNRESET; older ones get a plain close.
/// </summary>
internal sealed class ResetPeerToxic() : Toxic("timeout")
{
    public override string Type => "reset_peer";

    public override bool ResetsOnClose => true;

    private long TimeoutMs => this[0];

    public override async Task PipeAsync(ToxicStub stub, CancellationToken interrupt)
    {
        await stub.ReadAsync(interrupt).ConfigureAwait(false); // the chunk itself is dropped
        // Like Go's bare <-time.After, an interrupt does not cut this wait short; only the link closing does.
        await Task.Delay(TimeSpan.FromMilliseconds(Math.Max(0, TimeoutMs)), stub.LinkClosed).ConfigureAwait(false);
        stub.Close();
    }
}
