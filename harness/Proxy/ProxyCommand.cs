namespace Dtx.Harness.Proxy;

/// <summary><c>harness proxy --listen 127.0.0.1:8474</c>: runs the embedded Toxiproxy-compatible server until cancelled.</summary>
public static class ProxyCommand
{
    /// <returns>0 after a clean stop, 2 if the address is unusable (unparsable, or cannot be bound).</returns>
    public static async Task<int> RunAsync(string listen, CancellationToken ct)
    {
        ToxiproxyServer server;
        try
        {
            server = await ToxiproxyServer.StartAsync(listen, ct);
        }
        catch (Exception e) when (e is ArgumentException or IOException or System.Net.Sockets.SocketException)
        {
            // An address of another machine, or a port taken: bad input like any other.
            var why = e is ArgumentException { ParamName: { } name } ? e.Message.Replace($" (Parameter '{name}')", "") : e.Message;
            return Program.BadInput($"--listen: cannot listen on '{listen}': {why}");
        }
        catch (OperationCanceledException)
        {
            return 0;
        }

        await using (server)
        {
            Console.WriteLine($"Toxiproxy-compatible API listening on {server.ApiUri}");
            try { await Task.Delay(Timeout.Infinite, ct); }
            catch (OperationCanceledException) { }
        }
        return 0;
    }
}
