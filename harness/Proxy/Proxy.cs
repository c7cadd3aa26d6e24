using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Dtx.Harness.Proxy;

/// <summary>
/// One named proxy (Toxiproxy's <c>Proxy</c>): a listener on <see cref="Listen"/> that dials <see cref="Upstream"/> for
/// every accepted client and joins the two sockets with a pair of <see cref="ToxicLink"/>s.
/// Disabling closes the listener (new connects are refused) and every live connection (peers see EOF).
/// </summary>
internal sealed class Proxy(string name, string listen, string upstream)
{
    private readonly Lock _sync = new();
    private readonly ConcurrentDictionary<Connection, byte> _connections = new();
    private Socket? _listener;
    private CancellationTokenSource? _stopping;

    public string Name { get; } = name;

    /// <summary>As given until the proxy first listens, then the bound address (<c>listener.Addr().String()</c>).</summary>
    public string Listen { get; private set; } = listen;

    public string Upstream { get; private set; } = upstream;

    public bool Enabled { get; private set; }

    public ToxicCollection Toxics { get; } = new();

    /// <summary>Starts listening. False if already started (Go's <c>ErrProxyAlreadyStarted</c>); a bind error is an <see cref="ApiException"/> 500.</summary>
    public bool Start()
    {
        lock (_sync) return StartLocked();
    }

    public void Stop()
    {
        lock (_sync) StopLocked();
    }

    /// <summary>
    /// <c>Proxy.Update</c>: if listen (compared after resolving) or upstream differ, stop — dropping every connection — and
    /// take the new addresses; then start or stop to match <paramref name="enabled"/>.
    /// </summary>
    public void Update(string listen, string upstream, bool enabled)
    {
        lock (_sync)
        {
            if (TcpAddress.Canonical(listen) != Listen || upstream != Upstream)
            {
                StopLocked();
                Listen = listen;
                Upstream = upstream;
            }
            if (enabled && !Enabled) StartLocked();
            else if (!enabled && Enabled) StopLocked();
        }
    }

    private bool StartLocked()
    {
        if (Enabled) return false;
        var listener = TcpAddress.Listen(TcpAddress.ResolveForListen(Listen));
        Listen = TcpAddress.Format((IPEndPoint)listener.LocalEndPoint!);
        _listener = listener;
        _stopping = new CancellationTokenSource();
        Enabled = true;
        _ = AcceptLoopAsync(listener, _stopping.Token);
        return true;
    }

    private void StopLocked()
    {
        if (!Enabled) return;
        Enabled = false;
        _stopping!.Cancel();
        _listener!.Dispose();
        _listener = null;
        foreach (var connection in _connections.Keys) connection.Close();
        _connections.Clear();
    }

    private async Task AcceptLoopAsync(Socket listener, CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            Socket client;
            try { client = await listener.AcceptAsync(stopping).ConfigureAwait(false); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException) { return; }
            _ = ServeAsync(client, stopping);
        }
    }

    /// <summary>
    /// Dials the upstream for one client. If that fails the client is closed straight away, so it sees EOF rather than a
    /// refusal (<c>TestProxyToDownUpstream</c>). The dial runs per connection so one slow upstream does not stall accepts.
    /// </summary>
    private async Task ServeAsync(Socket client, CancellationToken stopping)
    {
        client.NoDelay = true; // Go's TCPConn default; without it small request/response traffic stalls on Nagle
        var target = TcpAddress.ForDial(Upstream);
        var upstream = target is IPEndPoint ip
            ? new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp)
            : new Socket(SocketType.Stream, ProtocolType.Tcp);
        upstream.NoDelay = true;
        try
        {
            if (target is null) throw new SocketException((int)SocketError.AddressNotAvailable);
            await upstream.ConnectAsync(target, stopping).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            upstream.Dispose();
            client.Dispose();
            return;
        }

        var connection = new Connection(client, upstream);
        lock (_sync)
        {
            if (stopping.IsCancellationRequested)
            {
                connection.Close();
                return;
            }
            _connections[connection] = 0;
        }
        await Toxics.StartLinksAsync(client, upstream, () =>
        {
            if (connection.LinkClosed()) _connections.TryRemove(connection, out _);
        }).ConfigureAwait(false);
    }

    /// <summary>A client socket and its upstream socket; forgotten once both directions have closed.</summary>
    private sealed class Connection(Socket client, Socket upstream)
    {
        private int _openLinks = 2;

        /// <summary>True when this was the second direction to close.</summary>
        public bool LinkClosed() => Interlocked.Decrement(ref _openLinks) == 0;

        public void Close()
        {
            SocketClose.Close(client);
            SocketClose.Close(upstream);
        }
    }
}
