using System.Net;
using System.Net.Sockets;
using Dtx.Harness.Proxy;
using Xunit;

namespace Dtx.Tests.Proxy;

/// <summary><c>harness proxy --listen …</c>: serves until cancelled; an unusable address is one line and exit code 2.</summary>
public sealed class ProxyCommandTests
{
    [Theory]
    [InlineData("no-port-here")]
    [InlineData("127.0.0.1:99999")]
    public async Task A_bad_listen_address_returns_2(string listen)
    {
        Assert.Equal(2, await ProxyCommand.RunAsync(listen, CancellationToken.None));
    }

    [Fact]
    public async Task A_port_in_use_returns_2()
    {
        using var squatter = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        squatter.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        squatter.Listen();
        Assert.Equal(2, await ProxyCommand.RunAsync($"127.0.0.1:{((IPEndPoint)squatter.LocalEndPoint!).Port}", CancellationToken.None));
    }

    [Fact]
    public async Task Serves_until_cancelled()
    {
        int port = Net.FreePort();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var run = ProxyCommand.RunAsync($"127.0.0.1:{port}", stop.Token);
        using var client = new ToxiproxyClient($"http://127.0.0.1:{port}");
        string? version = null;
        for (int attempt = 0; attempt < 50 && version is null; attempt++)
        {
            try { version = await client.VersionAsync(); }
            catch (HttpRequestException) { await Task.Delay(100); }
        }
        Assert.Equal(ToxiproxyServer.Version, version);
        stop.Cancel();
        Assert.Equal(0, await run);
    }
}
