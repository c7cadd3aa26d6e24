using System.Net;
using System.Net.Sockets;

namespace Dtx.Harness.Infrastructure;

/// <summary>Picks a TCP port on 127.0.0.1 that is free right now and that no outgoing connection will take.</summary>
/// <remarks>
/// The port is released before the caller binds it. A port from the kernel's ephemeral range (port 0) could be
/// taken in between as the source port of any outgoing connection — and a run opens hundreds (database pools,
/// AMQP, HTTP, the proxy's upstreams): CI saw services die at start with "address already in use". So ports are
/// drawn at random from below (or above) the ephemeral range, which the kernel never hands to a connect(), and
/// never twice from one process. Servers must still treat "address already in use" at first start as a reason to
/// retry with a new port: another program may bind the same port explicitly.
/// </remarks>
public static class FreePort
{
    private const int Lowest = 10_000;
    private static readonly object Gate = new();
    private static readonly HashSet<int> Given = [];
    private static readonly (int Low, int High) Range = OutsideEphemeralRange();

    public static int Next()
    {
        lock (Gate)
        {
            for (int attempt = 0; attempt < 200; attempt++)
            {
                int port = Random.Shared.Next(Range.Low, Range.High + 1);
                if (Given.Contains(port) || !IsFree(port)) continue;
                Given.Add(port);
                return port;
            }
        }
        // A crowded machine: fall back to one the kernel picks (free now, though not reserved from connect()).
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>The widest stretch of ports outside <c>/proc/sys/net/ipv4/ip_local_port_range</c>.</summary>
    private static (int Low, int High) OutsideEphemeralRange()
    {
        int ephemeralLow = 32768, ephemeralHigh = 60999; // Linux's default, when the file cannot be read
        try
        {
            var parts = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range")
                .Split((char[])[' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2 && int.TryParse(parts[0], out var low) && int.TryParse(parts[1], out var high) && low <= high)
                (ephemeralLow, ephemeralHigh) = (low, high);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        int below = ephemeralLow - 1 - Lowest, above = 65535 - (ephemeralHigh + 1);
        if (below >= above && below > 1000) return (Lowest, ephemeralLow - 1);
        if (above > 1000) return (ephemeralHigh + 1, 65535);
        return (Lowest, 65535); // no room outside it: any port, checked free
    }
}
