using System.Net.Sockets;

namespace Dtx.Harness.Proxy;

/// <summary>
/// One direction of one proxied connection (Toxiproxy's <c>ToxicLink</c>): source socket → <see cref="Pump"/> →
/// toxic stubs in chain order → destination socket. The chain is changed while data flows by interrupting only the
/// stages next to the change, so chunks are never dropped or reordered and untouched toxics keep their state.
/// All changes to one link are serialised by the owning <see cref="ToxicCollection"/>'s lock.
/// </summary>
internal sealed class ToxicLink
{
    private readonly Pump _pump;
    private readonly List<Stage> _stages = [];
    private readonly CancellationTokenSource _closed = new();

    public ToxicLink(Direction direction, Socket source, Socket destination, IReadOnlyList<ToxicSpec> chain, Action<ToxicLink> onClosed)
    {
        Direction = direction;
        var sink = new SocketSink(destination, () =>
        {
            _closed.Cancel();
            onClosed(this);
        });
        _pump = new Pump(source) { Output = sink };
        _stages.Add(_pump);
        // Built back to front so each stage is created knowing where it writes.
        var stubs = new ToxicStub[chain.Count];
        ChunkSink next = sink;
        for (int i = chain.Count - 1; i >= 0; i--)
        {
            stubs[i] = new ToxicStub(chain[i], _closed.Token) { Output = next };
            next = stubs[i].InputSink;
        }
        _pump.Output = next;
        _stages.AddRange(stubs);
    }

    public Direction Direction { get; }

    public bool IsClosed => _closed.IsCancellationRequested;

    /// <summary>Starts the toxics, then the reader.</summary>
    public void Start()
    {
        foreach (var stage in _stages.OfType<ToxicStub>()) stage.Run();
        _ = Task.Run(() => _pump.RunAsync(_closed.Token));
    }

    /// <summary>Appends a stub: interrupt the last stage, point it at the new stub, resume both (<c>ToxicLink.AddToxic</c>).</summary>
    public async Task AddAsync(ToxicSpec spec)
    {
        if (IsClosed) return;
        var last = _stages[^1];
        var stub = new ToxicStub(spec, _closed.Token) { Output = last.Output };
        bool live = await last.InterruptAsync().ConfigureAwait(false);
        try
        {
            if (!live) return; // that direction has already ended; the link is on its way out
            last.Output = stub.InputSink;
            _stages.Add(stub);
            stub.Run();
        }
        finally
        {
            last.Resume();
        }
    }

    /// <summary>Restarts the stub with the toxic's new attributes; its state and queued chunks stay (<c>ToxicLink.UpdateToxic</c>).</summary>
    public async Task UpdateAsync(ToxicSpec spec)
    {
        if (IsClosed || FindStub(spec) is not { } stub) return;
        await stub.InterruptAsync().ConfigureAwait(false);
        stub.Resume();
    }

    /// <summary>
    /// Takes a stub out (<c>ToxicLink.RemoveToxic</c>): stop it, then stop the stage before it while forwarding whatever
    /// that stage pushes meanwhile (it may be blocked writing into the stub), forward what is still queued, and join the
    /// stage before directly to the stub's output. A toxic that <see cref="Toxic.ClosesOnRemove"/> closes the link instead.
    /// </summary>
    public async Task RemoveAsync(ToxicSpec spec)
    {
        if (IsClosed || FindStub(spec) is not { } victim) return;
        int index = _stages.IndexOf(victim);
        if (!await victim.InterruptAsync().ConfigureAwait(false)) return;
        if (spec.Toxic.ClosesOnRemove)
        {
            victim.Close();
            return;
        }

        var previous = _stages[index - 1];
        var previousStopped = previous.InterruptAsync();
        try
        {
            using (var stopForwarding = CancellationTokenSource.CreateLinkedTokenSource(_closed.Token))
            {
                try
                {
                    while (true)
                    {
                        var readable = victim.Input.WaitToReadAsync(stopForwarding.Token).AsTask();
                        if (await Task.WhenAny(previousStopped, readable).ConfigureAwait(false) == previousStopped) break;
                        if (!await readable.ConfigureAwait(false)) break; // the stage before ended its stream
                        await ForwardQueuedAsync(victim).ConfigureAwait(false);
                    }
                }
                finally
                {
                    stopForwarding.Cancel(); // releases the WaitToReadAsync left behind when the stage before stopped first
                }
            }
            bool previousLive = await previousStopped.ConfigureAwait(false);
            await ForwardQueuedAsync(victim).ConfigureAwait(false);
            if (!previousLive)
            {
                victim.Close(); // pass the end of stream on; the rest of the chain winds down
                return;
            }
            previous.Output = victim.Output;
            _stages.Remove(victim);
        }
        finally
        {
            try { await previousStopped.ConfigureAwait(false); } catch (OperationCanceledException) { }
            previous.Resume();
        }
    }

    /// <summary>Closes the destination; the other direction sees its source fail and follows.</summary>
    public void Abort() => (_stages[^1].Output as SocketSink)?.Complete();

    private ToxicStub? FindStub(ToxicSpec spec) => _stages.OfType<ToxicStub>().FirstOrDefault(s => ReferenceEquals(s.Spec, spec));

    private async Task ForwardQueuedAsync(ToxicStub victim)
    {
        while (victim.Input.TryRead(out var chunk)) await victim.Output.WriteAsync(chunk, _closed.Token).ConfigureAwait(false);
    }
}
