using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Dtx.Harness.Proxy;

namespace Dtx.Tests.Proxy;

/// <summary>A TCP echo server on 127.0.0.1 with an ephemeral port; <see cref="Stop"/> closes it and every connection.</summary>
public sealed class EchoServer : IAsyncDisposable
{
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly ConcurrentBag<Socket> _connections = [];
    private readonly Task _acceptLoop;

    public EchoServer()
    {
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(64);
        Address = $"127.0.0.1:{((IPEndPoint)_listener.LocalEndPoint!).Port}";
        _acceptLoop = AcceptAsync();
    }

    public string Address { get; }

    private async Task AcceptAsync()
    {
        while (true)
        {
            Socket socket;
            try { socket = await _listener.AcceptAsync(); }
            catch (Exception) { return; }
            socket.NoDelay = true;
            _connections.Add(socket);
            _ = EchoAsync(socket);
        }
    }

    private static async Task EchoAsync(Socket socket)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None)) > 0)
                await socket.SendAsync(buffer.AsMemory(0, read), SocketFlags.None);
            socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception) { }
    }

    public void Stop()
    {
        _listener.Dispose();
        foreach (var socket in _connections) socket.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        Stop();
        await _acceptLoop;
    }
}

/// <summary>An embedded Toxiproxy, a client for it, a raw HTTP client for exact-bytes checks, and an echo upstream.</summary>
public sealed class ProxyRig : IAsyncDisposable
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(5);

    private ProxyRig(ToxiproxyServer server, EchoServer echo)
    {
        Server = server;
        Echo = echo;
        Client = new ToxiproxyClient(server.ApiUri);
        Http = new HttpClient { BaseAddress = server.ApiUri, Timeout = TimeSpan.FromSeconds(10) };
    }

    public ToxiproxyServer Server { get; }
    public EchoServer Echo { get; }
    public ToxiproxyClient Client { get; }
    public HttpClient Http { get; }

    public static async Task<ProxyRig> StartAsync() => new(await ToxiproxyServer.StartAsync("127.0.0.1:0"), new EchoServer());

    /// <summary>A proxy in front of the echo server on an ephemeral port; returns its listen address.</summary>
    public async Task<string> EchoProxyAsync(string name = "echo") =>
        (await Client.CreateProxyAsync(name, "127.0.0.1:0", Echo.Address)).Listen;

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        Client.Dispose();
        await Server.DisposeAsync();
        await Echo.DisposeAsync();
    }
}

public static class Net
{
    public static async Task<Socket> ConnectAsync(string address)
    {
        var (host, port) = Split(address);
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timeout = new CancellationTokenSource(ProxyRig.Patience);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Parse(host), port), timeout.Token);
        return socket;
    }

    public static (string Host, int Port) Split(string address)
    {
        int colon = address.LastIndexOf(':');
        return (address[..colon], int.Parse(address[(colon + 1)..]));
    }

    public static async Task SendAsync(Socket socket, byte[] data)
    {
        for (int sent = 0; sent < data.Length;) sent += await socket.SendAsync(data.AsMemory(sent), SocketFlags.None);
    }

    /// <summary>Exactly <paramref name="count"/> bytes, failing on EOF or after <paramref name="within"/>.</summary>
    public static async Task<byte[]> ReadExactlyAsync(Socket socket, int count, TimeSpan? within = null)
    {
        var data = new byte[count];
        using var timeout = new CancellationTokenSource(within ?? ProxyRig.Patience);
        for (int read = 0; read < count;)
        {
            int n = await socket.ReceiveAsync(data.AsMemory(read), SocketFlags.None, timeout.Token);
            if (n == 0) throw new EndOfStreamException($"EOF after {read} of {count} bytes");
            read += n;
        }
        return data;
    }

    /// <summary>Everything until EOF (bounded in time); a reset ends the read with the SocketException.</summary>
    public static async Task<byte[]> ReadToEndAsync(Socket socket, TimeSpan? within = null)
    {
        using var timeout = new CancellationTokenSource(within ?? ProxyRig.Patience);
        var all = new MemoryStream();
        var buffer = new byte[8192];
        int n;
        while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0) all.Write(buffer, 0, n);
        return all.ToArray();
    }

    /// <summary>True if nothing arrives (and the connection stays open) for <paramref name="quiet"/>.</summary>
    public static async Task<bool> StaysQuietAsync(Socket socket, TimeSpan quiet)
    {
        using var timeout = new CancellationTokenSource(quiet);
        try
        {
            await socket.ReceiveAsync(new byte[1], SocketFlags.None, timeout.Token);
            return false;
        }
        catch (OperationCanceledException) { return true; }
    }

    /// <summary>A port nothing listens on right now.</summary>
    public static int FreePort() => Dtx.Harness.Infrastructure.FreePort.Next();
}
