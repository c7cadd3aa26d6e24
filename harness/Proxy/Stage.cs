using System.Buffers;
using System.Diagnostics;
using System.Net.Sockets;
using System.Threading.Channels;

namespace Dtx.Harness.Proxy;

/// <summary>
/// One step of a link's pipeline. To rewire a running pipeline, a stage is first <em>interrupted</em> (it stops
/// between chunks, keeping what it holds), its <see cref="Output"/> is swapped, then it is resumed. This is
/// Toxiproxy's <c>ToxicStub.InterruptToxic</c>/<c>Run</c> protocol.
/// </summary>
internal abstract class Stage
{
    public required ChunkSink Output { get; set; }

    /// <summary>Stops the stage between chunks. False if it has already ended its stream (then nothing need be rewired).</summary>
    public abstract Task<bool> InterruptAsync();

    /// <summary>Lets an interrupted stage go on. Safe to call on a stage that has ended.</summary>
    public abstract void Resume();
}

/// <summary>
/// Stage 0 of every link, the hidden <c>noop</c> of Toxiproxy merged with its socket reader: reads the source socket
/// and hands each read to <see cref="Stage.Output"/>. With no toxics that output is the destination socket, so the
/// hot path is a plain receive/send loop on one pooled 32 KiB buffer, with no copy and no allocation.
/// Interrupting it takes a gate that the pump holds only while writing, never while waiting for data.
/// </summary>
internal sealed class Pump(Socket source) : Stage
{
    private const int BufferSize = 32 * 1024; // io.Copy's chunk size in Toxiproxy.
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile bool _ended;

    public override async Task<bool> InterruptAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        return !_ended;
    }

    public override void Resume() => _gate.Release();

    public async Task RunAsync(CancellationToken linkClosed)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            while (true)
            {
                int read;
                try { read = await source.ReceiveAsync(buffer.AsMemory(0, BufferSize), SocketFlags.None).ConfigureAwait(false); }
                catch (Exception e) when (e is SocketException or ObjectDisposedException) { read = 0; } // closed under us = end of stream
                long received = Stopwatch.GetTimestamp();

                await _gate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
                try
                {
                    if (read == 0 || linkClosed.IsCancellationRequested)
                    {
                        _ended = true;
                        Output.Complete();
                        return;
                    }
                    if (Output is SocketSink direct) await direct.SendAsync(buffer.AsMemory(0, read)).ConfigureAwait(false);
                    else await Output.WriteAsync(new Chunk(buffer.AsSpan(0, read).ToArray(), received), linkClosed).ConfigureAwait(false);
                }
                catch (Exception e) when (e is OperationCanceledException or ChannelClosedException)
                {
                    _ended = true; // the link is gone; the other direction closes our source.
                    return;
                }
                finally
                {
                    _gate.Release();
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

/// <summary>
/// A toxic's place in a link (Toxiproxy's <c>ToxicStub</c>): a bounded input, an output, per-connection state, and the
/// task running the toxic. Each (re)start rolls <see cref="ToxicSpec.Toxicity"/> once to decide whether the toxic or a
/// pass-through runs, so toxicity is decided per connection and direction, again whenever the chain changes.
/// </summary>
internal sealed class ToxicStub : Stage
{
    private readonly Channel<Chunk> _input;
    private CancellationTokenSource? _interrupt;
    private Task? _running;
    private volatile bool _closed;

    public ToxicStub(ToxicSpec spec, CancellationToken linkClosed)
    {
        Spec = spec;
        LinkClosed = linkClosed;
        // Go's unbuffered channel has no exact equivalent; capacity 1 is the closest bounded channel.
        _input = Channel.CreateBounded<Chunk>(new BoundedChannelOptions(Math.Max(1, spec.Toxic.BufferSize))
        {
            SingleReader = true,
            SingleWriter = false, // the stage before and, during a removal, the drain.
            FullMode = BoundedChannelFullMode.Wait,
        });
        InputSink = new ChannelSink(_input.Writer);
        State = spec.Toxic.NewState();
    }

    /// <summary>The toxic this stub runs; the same object across updates, which swap its <see cref="ToxicSpec.Toxic"/>.</summary>
    public ToxicSpec Spec { get; }

    public ChannelReader<Chunk> Input => _input.Reader;

    /// <summary>What the previous stage writes to.</summary>
    public ChunkSink InputSink { get; }

    /// <summary>Per-connection toxic state (<c>limit_data</c>'s byte count); it survives updates of the toxic.</summary>
    public object? State { get; }

    /// <summary>Cancelled when the link's destination closes; writes use it so nothing blocks on a dead link.</summary>
    public CancellationToken LinkClosed { get; }

    public bool IsClosed => _closed;

    public void Run()
    {
        var toxic = Spec.Toxic;
        bool apply = Random.Shared.NextSingle() < Spec.Toxicity;
        var interrupt = CancellationTokenSource.CreateLinkedTokenSource(LinkClosed);
        _interrupt = interrupt;
        _running = Task.Run(async () =>
        {
            try { await (apply ? toxic : NoopToxic.Instance).PipeAsync(this, interrupt.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { } // interrupted, or the link closed
            catch (ChannelClosedException) { }
        });
    }

    public override async Task<bool> InterruptAsync()
    {
        if (_running is { } running && _interrupt is { } interrupt)
        {
            interrupt.Cancel();
            await running.ConfigureAwait(false);
            interrupt.Dispose();
            _running = null;
            _interrupt = null;
        }
        return !_closed;
    }

    public override void Resume()
    {
        if (!_closed && !LinkClosed.IsCancellationRequested) Run();
    }

    /// <summary>Next chunk, or null at end of stream. Throws <see cref="OperationCanceledException"/> when interrupted; nothing is lost then.</summary>
    public async ValueTask<Chunk?> ReadAsync(CancellationToken interrupt)
    {
        while (await _input.Reader.WaitToReadAsync(interrupt).ConfigureAwait(false))
            if (_input.Reader.TryRead(out var chunk)) return chunk;
        return null;
    }

    public ValueTask WriteAsync(Chunk chunk) => Output.WriteAsync(chunk, LinkClosed);

    /// <summary>Ends this stub's output stream (Toxiproxy's <c>stub.Close()</c>); the rest of the chain follows and the link closes.</summary>
    public void Close()
    {
        _closed = true;
        Output.Complete();
    }
}
