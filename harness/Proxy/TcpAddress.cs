using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Dtx.Harness.Proxy;

/// <summary>
/// "host:port" handling the way Go's <c>net</c> package does it, because Toxiproxy's observable behaviour
/// (the <c>listen</c> it reports, the text of a bind error) comes straight from there.
/// </summary>
internal static class TcpAddress
{
    /// <summary>Go's <c>net.SplitHostPort</c>: <c>host:port</c> or <c>[v6]:port</c>; the host may be empty, the port may not be missing.</summary>
    public static bool TrySplit(string address, out string host, out int port, out string error)
    {
        host = ""; port = 0; error = "";
        int colon = address.LastIndexOf(':');
        if (colon < 0) { error = $"address {address}: missing port in address"; return false; }
        host = address[..colon];
        if (host.StartsWith('[') && host.EndsWith(']')) host = host[1..^1];
        else if (host.Contains(':')) { error = $"address {address}: too many colons in address"; return false; }
        string portText = address[(colon + 1)..];
        if (portText.Length == 0) return true; // Go treats an empty port as 0 when listening.
        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port > 65535)
        {
            error = $"address {address}: invalid port";
            return false;
        }
        return true;
    }

    /// <summary>
    /// What <c>net.Listen("tcp", address)</c> would bind: an empty host means every interface (dual-stack),
    /// a name resolves to its first IPv4 address if it has one.
    /// </summary>
    public static IPEndPoint ResolveForListen(string address)
    {
        if (!TrySplit(address, out string host, out int port, out string error))
            throw new ApiException(500, "listen tcp: " + error);
        if (host.Length == 0) return new IPEndPoint(IPAddress.IPv6Any, port);
        if (IPAddress.TryParse(host, out var ip)) return new IPEndPoint(ip, port);
        IPAddress[] found;
        try { found = Dns.GetHostAddresses(host); }
        catch (SocketException) { throw new ApiException(500, $"listen tcp: lookup {host}: no such host"); }
        var chosen = found.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? found.FirstOrDefault()
            ?? throw new ApiException(500, $"listen tcp: lookup {host}: no such host");
        return new IPEndPoint(chosen, port);
    }

    /// <summary>The address as Go prints it: <c>127.0.0.1:80</c>, <c>[::1]:80</c>, and <c>:80</c> for "any" before binding.</summary>
    public static string Format(IPEndPoint endpoint) => endpoint.Address.AddressFamily == AddressFamily.InterNetworkV6
        ? $"[{endpoint.Address}]:{endpoint.Port}"
        : $"{endpoint.Address}:{endpoint.Port}";

    /// <summary>Go's <c>ResolveTCPAddr(address).String()</c>, which <c>Proxy.Differs</c> compares with the current listen.</summary>
    public static string Canonical(string address)
    {
        var endpoint = ResolveForListen(address);
        return endpoint.Address.Equals(IPAddress.IPv6Any) && !address.StartsWith('[') ? $":{endpoint.Port}" : Format(endpoint);
    }

    /// <summary>Where to dial an upstream; names are resolved at connect time, like <c>net.Dial</c>.</summary>
    public static EndPoint? ForDial(string address)
    {
        if (!TrySplit(address, out string host, out int port, out _)) return null;
        if (host.Length == 0) return new IPEndPoint(IPAddress.Loopback, port);
        return IPAddress.TryParse(host, out var ip) ? new IPEndPoint(ip, port) : new DnsEndPoint(host, port);
    }

    /// <summary>
    /// A listening socket like Go's: SO_REUSEADDR set (so a proxy re-enabled right after being disabled can rebind
    /// although its old connections sit in TIME_WAIT) but not SO_REUSEPORT, which .NET's <c>ReuseAddress</c> would
    /// also set on Linux and which would let two proxies share a port instead of failing with "address already in use".
    /// </summary>
    public static Socket Listen(IPEndPoint endpoint)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endpoint.Address.Equals(IPAddress.IPv6Any)) socket.DualMode = true;
            if (OperatingSystem.IsLinux()) socket.SetRawSocketOption(1 /* SOL_SOCKET */, 2 /* SO_REUSEADDR */, BitConverter.GetBytes(1));
            else if (OperatingSystem.IsMacOS()) socket.SetRawSocketOption(0xffff, 0x4, BitConverter.GetBytes(1));
            socket.Bind(endpoint);
            socket.Listen(512);
            return socket;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new ApiException(500, $"listen tcp {Format(endpoint)}: bind: {BindErrorText(e)}");
        }
    }

    private static string BindErrorText(SocketException e) => e.SocketErrorCode switch
    {
        SocketError.AddressAlreadyInUse => "address already in use",
        SocketError.AddressNotAvailable => "cannot assign requested address",
        SocketError.AccessDenied => "permission denied",
        _ => e.Message.ToLowerInvariant(),
    };
}
