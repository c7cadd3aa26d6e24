using System.Threading.Channels;
using System.Net.Sockets;

namespace Dtx.Harness.Proxy;

/// <summary>
/// A piece of a byte stream inside a toxic chain, stamped with when the proxy received it
/// (<see cref="System.Diagnostics.Stopwatch"/> ticks) so latency can be measured from arrival, as Toxiproxy's <c>StreamChunk</c> is.
/// Chunks own their bytes: the toxic path copies out of the receive buffer, so slicing and holding are free of aliasing.
/// </summary>
internal readonly record struct Chunk(ReadOnlyMemory<byte> Data, long Timestamp);

/// <summary>Where a stage sends its chunks: the next stub's input, or the destination socket at the end of the chain.</summary>
internal abstract class ChunkSink
{
    public abstract ValueTask WriteAsync(Chunk chunk, CancellationToken ct);

    /// <summary>End of stream: Toxiproxy's "close the output channel".</summary>
    public abstract void Complete();
}

/// <summary>The input of a toxic stub. Bounded, so a slow toxic pushes back on the socket reader as Go's channels do.</summary>
internal sealed class ChannelSink(ChannelWriter<Chunk> writer) : ChunkSink
{
    public override ValueTask WriteAsync(Chunk chunk, CancellationToken ct) => writer.WriteAsync(chunk, ct);

    public override void Complete() => writer.TryComplete();
}

/// <summary>
/// The end of a link: writes to the destination socket. Completing it closes that socket, which is how the end of one
/// direction tears down the other (its reader fails), exactly like <c>ToxicLink.write</c> → <c>dest.Close()</c>.
/// A write error (peer gone) also completes it; later writes are dropped.
/// </summary>
internal sealed class SocketSink(Socket destination, Action onClosed) : ChunkSink
{
    private int _completed;

    public bool IsCompleted => Volatile.Read(ref _completed) != 0;

    public async ValueTask SendAsync(ReadOnlyMemory<byte> data)
    {
        if (IsCompleted) return;
        try
        {
            while (!data.IsEmpty)
            {
                int sent = await destination.SendAsync(data, SocketFlags.None).ConfigureAwait(false);
                data = data[sent..];
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            Complete();
        }
    }

    public override ValueTask WriteAsync(Chunk chunk, CancellationToken ct) => SendAsync(chunk.Data);

    public override void Complete()
    {
        if (Interlocked.Exchange(ref _completed, 1) != 0) return;
        SocketClose.Close(destination);
        onClosed();
    }
}
