using System.Net;
using System.Net.Sockets;

namespace Dtx.Harness.Infrastructure;

/// <summary>Picks a TCP port on 127.0.0.1 that is free right now.</summary>
/// <remarks>
/// The port is released before the caller binds it, so another process can take it in between: servers started on
/// such a port must treat "address already in use" as a reason to retry with a new port, not as a failure.
/// </remarks>
public static class FreePort
{
    public static int Next()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
