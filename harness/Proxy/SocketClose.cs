using System.Net.Sockets;

namespace Dtx.Harness.Proxy;

internal static class SocketClose
{
    /// <summary>
    /// Closes a socket the way Go's <c>TCPConn.Close</c> does: a FIN, unless SO_LINGER 0 was set (then an RST).
    /// The explicit shutdown matters: on Linux, .NET turns the close of a socket that still has an operation pending
    /// (our reader always has one) into an abortive close, i.e. an RST, unless sending was shut down first.
    /// </summary>
    public static void Close(Socket socket)
    {
        try
        {
            if (socket.LingerState is not { Enabled: true, LingerTime: 0 }) socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        socket.Dispose();
    }
}
