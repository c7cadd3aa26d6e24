using System.Diagnostics;
using System.Net.Sockets;
using Xunit;

namespace Dtx.Tests.Proxy;

/// <summary>
/// What the proxies do to real TCP traffic, after Toxiproxy's <c>proxy_test.go</c>, <c>link_test.go</c> and
/// <c>toxics/*_test.go</c>: an echo server behind the embedded proxy, faults added through the HTTP API.
/// </summary>
public sealed class ToxiproxyBehaviourTests : IAsyncLifetime
{
    private ProxyRig _rig = null!;

    public async Task InitializeAsync() => _rig = await ProxyRig.StartAsync();

    public async Task DisposeAsync() => await _rig.DisposeAsync();

    private static async Task<TimeSpan> RoundTripAsync(Socket socket, byte[] message)
    {
        var clock = Stopwatch.StartNew();
        await Net.SendAsync(socket, message);
        Assert.Equal(message, await Net.ReadExactlyAsync(socket, message.Length));
        return clock.Elapsed;
    }

    [Fact]
    public async Task Echo_passes_through_unchanged()
    {
        using var socket = await Net.ConnectAsync(await _rig.EchoProxyAsync());
        var payload = new byte[200_000];
        Random.Shared.NextBytes(payload);
        var echoed = Net.ReadExactlyAsync(socket, payload.Length);
        await Net.SendAsync(socket, payload);
        Assert.Equal(payload, await echoed);
    }

    [Fact]
    public async Task Disabling_closes_live_connections_and_refuses_new_ones_until_enabled()
    {
        string listen = await _rig.EchoProxyAsync();
        using var live = await Net.ConnectAsync(listen);
        await RoundTripAsync(live, "ping"u8.ToArray());

        await _rig.Client.SetEnabledAsync("echo", false);
        Assert.Empty(await Net.ReadToEndAsync(live)); // EOF
        var refused = await Assert.ThrowsAnyAsync<SocketException>(() => Net.ConnectAsync(listen));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);

        await _rig.Client.SetEnabledAsync("echo", true);
        using var again = await Net.ConnectAsync(listen);
        await RoundTripAsync(again, "pong"u8.ToArray());
    }

    [Fact]
    public async Task An_unreachable_upstream_means_accept_then_EOF()
    {
        var proxy = await _rig.Client.CreateProxyAsync("down", "127.0.0.1:0", $"127.0.0.1:{Net.FreePort()}");
        using var socket = await Net.ConnectAsync(proxy.Listen); // accepted, not refused
        Assert.Empty(await Net.ReadToEndAsync(socket));
    }

    [Fact]
    public async Task Changing_the_upstream_drops_connections_and_new_ones_reach_the_new_upstream()
    {
        string listen = await _rig.EchoProxyAsync();
        using var old = await Net.ConnectAsync(listen);
        await RoundTripAsync(old, "a"u8.ToArray());
        await using var other = new EchoServer();
        var updated = await _rig.Client.UpdateProxyAsync("echo", upstream: other.Address);
        Assert.Equal(other.Address, updated.Upstream);
        Assert.Empty(await Net.ReadToEndAsync(old));
        using var fresh = await Net.ConnectAsync(updated.Listen);
        await RoundTripAsync(fresh, "b"u8.ToArray());
    }

    [Fact]
    public async Task Latency_applies_to_open_connections_and_keeps_order()
    {
        using var socket = await Net.ConnectAsync(await _rig.EchoProxyAsync());
        Assert.True(await RoundTripAsync(socket, "warm"u8.ToArray()) < TimeSpan.FromMilliseconds(150));

        await _rig.Client.AddToxicAsync("echo", "latency", "downstream", attributes: new { latency = 200 });
        var slow = await RoundTripAsync(socket, "slow"u8.ToArray());
        Assert.InRange(slow.TotalMilliseconds, 190, 1500);

        // 30 small writes come back delayed, in order, and not 30 × 200 ms later: latency is from arrival.
        var clock = Stopwatch.StartNew();
        var expected = new List<byte>();
        for (byte i = 0; i < 30; i++)
        {
            await Net.SendAsync(socket, [i]);
            expected.Add(i);
            await Task.Delay(2);
        }
        Assert.Equal(expected.ToArray(), await Net.ReadExactlyAsync(socket, 30));
        Assert.InRange(clock.Elapsed.TotalMilliseconds, 190, 2000);

        await _rig.Client.RemoveToxicAsync("echo", "latency_downstream");
        Assert.True(await RoundTripAsync(socket, "fast"u8.ToArray()) < TimeSpan.FromMilliseconds(150));
    }

    [Fact]
    public async Task Toxicity_zero_never_applies()
    {
        string listen = await _rig.EchoProxyAsync();
        await _rig.Client.AddToxicAsync("echo", "latency", toxicity: 0f, attributes: new { latency = 1000 });
        for (int i = 0; i < 5; i++)
        {
            using var socket = await Net.ConnectAsync(listen);
            Assert.True(await RoundTripAsync(socket, "x"u8.ToArray()) < TimeSpan.FromMilliseconds(500));
        }
    }

    [Fact]
    public async Task Removing_a_timeout_toxic_closes_its_connections()
    {
        string listen = await _rig.EchoProxyAsync();
        await _rig.Client.AddToxicAsync("echo", "timeout", "downstream", attributes: new { timeout = 0 });
        using var socket = await Net.ConnectAsync(listen);
        await Net.SendAsync(socket, "swallowed"u8.ToArray());
        Assert.True(await Net.StaysQuietAsync(socket, TimeSpan.FromMilliseconds(300)));

        await _rig.Client.RemoveToxicAsync("echo", "timeout_downstream");
        Assert.Empty(await Net.ReadToEndAsync(socket)); // TestTimeoutToxicClosesConnectionOnRemove
    }

    [Fact]
    public async Task A_timeout_closes_an_idle_connection_after_the_timeout()
    {
        string listen = await _rig.EchoProxyAsync();
        await _rig.Client.AddToxicAsync("echo", "timeout", "upstream", attributes: new { timeout = 200 });
        using var socket = await Net.ConnectAsync(listen);
        var clock = Stopwatch.StartNew();
        Assert.Empty(await Net.ReadToEndAsync(socket));
        Assert.InRange(clock.Elapsed.TotalMilliseconds, 150, 2000);
    }

    [Fact]
    public async Task Reset_peer_gives_a_new_connection_ECONNRESET()
    {
        string listen = await _rig.EchoProxyAsync();
        await _rig.Client.AddToxicAsync("echo", "reset_peer", "upstream", attributes: new { timeout = 0 });
        using var socket = await Net.ConnectAsync(listen);
        await Net.SendAsync(socket, "boom"u8.ToArray());
        var reset = await Assert.ThrowsAnyAsync<SocketException>(() => Net.ReadToEndAsync(socket));
        Assert.Equal(SocketError.ConnectionReset, reset.SocketErrorCode);
    }

    [Fact]
    public async Task Limit_data_closes_after_the_byte_budget()
    {
        string listen = await _rig.EchoProxyAsync();
        await _rig.Client.AddToxicAsync("echo", "limit_data", "downstream", attributes: new { bytes = 10 });
        using var socket = await Net.ConnectAsync(listen);
        await Net.SendAsync(socket, new byte[100]);
        Assert.Equal(10, (await Net.ReadToEndAsync(socket)).Length);
    }

    [Fact]
    public async Task Bandwidth_roughly_limits_throughput()
    {
        string listen = await _rig.EchoProxyAsync();
        await _rig.Client.AddToxicAsync("echo", "bandwidth", "downstream", attributes: new { rate = 100 }); // 100 KB/s
        using var socket = await Net.ConnectAsync(listen);
        var payload = new byte[50_000]; // 0.5 s at 100,000 B/s
        var clock = Stopwatch.StartNew();
        var echoed = Net.ReadExactlyAsync(socket, payload.Length, TimeSpan.FromSeconds(10));
        await Net.SendAsync(socket, payload);
        await echoed;
        Assert.InRange(clock.Elapsed.TotalMilliseconds, 400, 3000);
    }

    [Fact]
    public async Task Slicer_delivers_everything_in_order()
    {
        string listen = await _rig.EchoProxyAsync();
        await _rig.Client.AddToxicAsync("echo", "slicer", "downstream", attributes: new { average_size = 64, size_variation = 32, delay = 50 });
        using var socket = await Net.ConnectAsync(listen);
        var payload = new byte[20_000];
        Random.Shared.NextBytes(payload);
        var echoed = Net.ReadExactlyAsync(socket, payload.Length, TimeSpan.FromSeconds(10));
        await Net.SendAsync(socket, payload);
        Assert.Equal(payload, await echoed);
    }

    [Fact]
    public async Task Slow_close_delays_the_close()
    {
        string listen = await _rig.EchoProxyAsync();
        await _rig.Client.AddToxicAsync("echo", "slow_close", "downstream", attributes: new { delay = 300 });
        using var socket = await Net.ConnectAsync(listen);
        await RoundTripAsync(socket, "x"u8.ToArray());
        var clock = Stopwatch.StartNew();
        socket.Shutdown(SocketShutdown.Send); // upstream EOF → upstream socket closed → downstream ends, 300 ms late
        Assert.Empty(await Net.ReadToEndAsync(socket));
        Assert.InRange(clock.Elapsed.TotalMilliseconds, 250, 3000);
    }

    [Fact]
    public async Task No_data_is_dropped_or_reordered_while_toxics_come_and_go()
    {
        using var socket = await Net.ConnectAsync(await _rig.EchoProxyAsync());
        var payload = new byte[2_000_000];
        for (int i = 0; i < payload.Length; i++) payload[i] = (byte)(i * 31 + (i >> 8));
        var echoed = Net.ReadExactlyAsync(socket, payload.Length, TimeSpan.FromSeconds(20));
        var writer = Task.Run(async () =>
        {
            for (int offset = 0; offset < payload.Length; offset += 16_384)
            {
                await Net.SendAsync(socket, payload[offset..Math.Min(payload.Length, offset + 16_384)]);
                await Task.Delay(1);
            }
        });
        for (int round = 0; round < 8 && !writer.IsCompleted; round++)
        {
            foreach (var stream in new[] { "upstream", "downstream" })
            {
                await _rig.Client.AddToxicAsync("echo", "latency", stream, attributes: new { latency = 5 }, name: $"l-{stream}");
                await _rig.Client.AddToxicAsync("echo", "slicer", stream, attributes: new { average_size = 4096, size_variation = 1024 }, name: $"s-{stream}");
            }
            await Task.Delay(20);
            await _rig.Client.UpdateToxicAsync("echo", "l-downstream", new { latency = 1 });
            foreach (var name in new[] { "l-upstream", "s-downstream", "l-downstream", "s-upstream" })
                await _rig.Client.RemoveToxicAsync("echo", name);
        }
        await writer;
        var received = await echoed;
        Assert.True(payload.AsSpan().SequenceEqual(received), "the echoed stream differs from what was sent");
    }

    [Fact]
    public async Task Limit_data_state_survives_an_update()
    {
        string listen = await _rig.EchoProxyAsync();
        await _rig.Client.AddToxicAsync("echo", "limit_data", "downstream", attributes: new { bytes = 10 });
        using var socket = await Net.ConnectAsync(listen);
        await RoundTripAsync(socket, new byte[6]);
        await _rig.Client.UpdateToxicAsync("echo", "limit_data_downstream", new { bytes = 12 });
        await Net.SendAsync(socket, new byte[10]);
        Assert.Equal(6, (await Net.ReadToEndAsync(socket)).Length); // 12 − the 6 already sent
    }
}
