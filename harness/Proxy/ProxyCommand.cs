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
        catch (Exception e) when (e is ArgumentException or IOException)
        {
            Console.Error.WriteLine($"proxy: cannot listen on '{listen}': {e.Message}");
            return 2;
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
