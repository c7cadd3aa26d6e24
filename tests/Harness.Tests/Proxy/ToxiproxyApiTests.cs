using System.Net;
using System.Net.Sockets;
using System.Text;
using Dtx.Harness.Proxy;
using Xunit;

namespace Dtx.Tests.Proxy;

/// <summary>
/// The HTTP API of the embedded server, byte for byte where Toxiproxy's own <c>api_test.go</c> pins it:
/// status codes, JSON shapes and field order, error bodies and content types.
/// </summary>
public sealed class ToxiproxyApiTests : IAsyncLifetime
{
    private ProxyRig _rig = null!;

    public async Task InitializeAsync() => _rig = await ProxyRig.StartAsync();

    public async Task DisposeAsync() => await _rig.DisposeAsync();

    private async Task<(HttpStatusCode Status, string Body, HttpResponseMessage Response)> SendAsync(string method, string path, string? body = null, string? userAgent = null)
    {
        var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null) request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        if (userAgent is not null) request.Headers.TryAddWithoutValidation("User-Agent", userAgent);
        var response = await _rig.Http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), response);
    }

    /// <summary>The response exactly as sent, since HttpClient normalises header values (e.g. adds a space after ';').</summary>
    private async Task<string> RawGetAsync(string path)
    {
        using var socket = await Net.ConnectAsync($"{_rig.Server.ApiUri.Host}:{_rig.Server.ApiUri.Port}");
        await Net.SendAsync(socket, Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
        return Encoding.UTF8.GetString(await Net.ReadToEndAsync(socket));
    }

    private static void AssertError(HttpStatusCode expected, string message, (HttpStatusCode Status, string Body, HttpResponseMessage Response) actual)
    {
        Assert.Equal(expected, actual.Status);
        Assert.Equal($"{{\"error\":\"{message}\",\"status\":{(int)expected}}}\n", actual.Body);
        Assert.Equal("text/plain; charset=utf-8", actual.Response.Content.Headers.ContentType!.ToString());
    }

    [Fact]
    public async Task Version_is_the_exact_toxiproxy_shape_and_every_response_has_a_request_id()
    {
        var answer = await SendAsync("GET", "version");
        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Equal($"{{\"version\": \"{ToxiproxyServer.Version}\"}}\n", answer.Body);
        Assert.Contains("\r\nContent-Type: application/json;charset=utf-8\r\n", await RawGetAsync("/version"), StringComparison.OrdinalIgnoreCase);
        Assert.Matches("^[0-9a-v]{20}$", answer.Response.Headers.GetValues("X-Toxiproxy-Request-Id").Single());
        Assert.Equal(ToxiproxyServer.Version, await _rig.Client.VersionAsync());
    }

    [Fact]
    public async Task Browsers_get_403()
    {
        var answer = await SendAsync("GET", "proxies", userAgent: "Mozilla/5.0 (X11; Linux x86_64)");
        Assert.Equal(HttpStatusCode.Forbidden, answer.Status);
        Assert.Equal("User agent not allowed\n", answer.Body);
        Assert.True(answer.Response.Headers.Contains("X-Toxiproxy-Request-Id"));
    }

    [Fact]
    public async Task Unknown_routes_are_404_and_wrong_methods_405()
    {
        var unknown = await SendAsync("GET", "nothing/here");
        Assert.Equal(HttpStatusCode.NotFound, unknown.Status);
        Assert.Equal("404 page not found\n", unknown.Body);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, (await SendAsync("PUT", "proxies")).Status);
    }

    [Fact]
    public async Task Create_answers_201_with_the_proxy_in_field_order_and_listen_resolved()
    {
        var answer = await SendAsync("POST", "proxies", $"{{\"name\":\"db\",\"listen\":\"localhost:0\",\"upstream\":\"{_rig.Echo.Address}\"}}");
        Assert.Equal(HttpStatusCode.Created, answer.Status);
        Assert.Equal("application/json", answer.Response.Content.Headers.ContentType!.ToString());
        Assert.Matches($"^{{\"name\":\"db\",\"listen\":\"127\\.0\\.0\\.1:[1-9][0-9]*\",\"upstream\":\"{_rig.Echo.Address}\",\"enabled\":true,\"toxics\":\\[\\]}}$", answer.Body);

        var list = await SendAsync("GET", "proxies");
        Assert.Equal(HttpStatusCode.OK, list.Status);
        Assert.StartsWith("{\"db\":{\"name\":\"db\"", list.Body);
    }

    [Fact]
    public async Task Create_rejects_bad_input_with_toxiproxys_messages()
    {
        AssertError(HttpStatusCode.BadRequest, "missing required field: name", await SendAsync("POST", "proxies", "{\"upstream\":\"127.0.0.1:1\"}"));
        AssertError(HttpStatusCode.BadRequest, "missing required field: upstream", await SendAsync("POST", "proxies", "{\"name\":\"x\"}"));
        var badJson = await SendAsync("POST", "proxies", "{not json");
        Assert.Equal(HttpStatusCode.BadRequest, badJson.Status);
        Assert.StartsWith("{\"error\":\"bad request body: ", badJson.Body);
        AssertError(HttpStatusCode.BadRequest, "bad request body: EOF", await SendAsync("POST", "proxies", ""));

        await _rig.EchoProxyAsync("dup");
        AssertError(HttpStatusCode.Conflict, "proxy already exists", await SendAsync("POST", "proxies", $"{{\"name\":\"dup\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"{_rig.Echo.Address}\"}}"));
    }

    [Fact]
    public async Task Delete_answers_204_then_the_proxy_is_gone()
    {
        string listen = await _rig.EchoProxyAsync("gone");
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync("DELETE", "proxies/gone")).Status);
        AssertError(HttpStatusCode.NotFound, "proxy not found", await SendAsync("GET", "proxies/gone"));
        AssertError(HttpStatusCode.NotFound, "proxy not found", await SendAsync("DELETE", "proxies/gone"));
        await Assert.ThrowsAnyAsync<SocketException>(() => Net.ConnectAsync(listen));

        var error = await Assert.ThrowsAsync<ToxiproxyException>(() => _rig.Client.GetProxyAsync("gone"));
        Assert.Equal("HTTP 404: proxy not found", error.Message);
        Assert.Equal(404, error.Status);
    }

    [Fact]
    public async Task A_port_in_use_is_a_500_with_the_bind_error_and_the_server_carries_on()
    {
        using var squatter = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        squatter.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        squatter.Listen();
        string taken = $"127.0.0.1:{((IPEndPoint)squatter.LocalEndPoint!).Port}";

        AssertError(HttpStatusCode.InternalServerError, $"listen tcp {taken}: bind: address already in use",
            await SendAsync("POST", "proxies", $"{{\"name\":\"clash\",\"listen\":\"{taken}\",\"upstream\":\"{_rig.Echo.Address}\"}}"));
        AssertError(HttpStatusCode.NotFound, "proxy not found", await SendAsync("GET", "proxies/clash"));
        Assert.Equal(HttpStatusCode.OK, (await SendAsync("GET", "version")).Status);
        await _rig.EchoProxyAsync("after");
    }

    [Fact]
    public async Task Toxics_answer_200_in_field_order_with_defaults()
    {
        await _rig.EchoProxyAsync("p");
        var added = await SendAsync("POST", "proxies/p/toxics", "{\"type\":\"latency\",\"attributes\":{\"latency\":100,\"jitter\":10}}");
        Assert.Equal(HttpStatusCode.OK, added.Status);
        Assert.Equal("{\"attributes\":{\"latency\":100,\"jitter\":10},\"name\":\"latency_downstream\",\"type\":\"latency\",\"stream\":\"downstream\",\"toxicity\":1}", added.Body);

        var upper = await SendAsync("POST", "proxies/p/toxics", "{\"type\":\"bandwidth\",\"stream\":\"UpStream\",\"toxicity\":0.5}");
        Assert.Equal("{\"attributes\":{\"rate\":0},\"name\":\"bandwidth_UpStream\",\"type\":\"bandwidth\",\"stream\":\"UpStream\",\"toxicity\":0.5}", upper.Body);

        // Upstream first, then downstream, each in insertion order.
        var names = (await _rig.Client.ListToxicsAsync("p")).Select(t => t.Name).ToArray();
        Assert.Equal(["bandwidth_UpStream", "latency_downstream"], names);
        Assert.Equal("latency_downstream", (await _rig.Client.GetProxyAsync("p")).Toxics[1].Name);
    }

    [Fact]
    public async Task Toxic_errors_match_toxiproxy()
    {
        await _rig.EchoProxyAsync("p");
        await _rig.Client.AddToxicAsync("p", "latency", "downstream", attributes: new { latency = 10 }, name: "lag");
        AssertError(HttpStatusCode.Conflict, "toxic already exists", await SendAsync("POST", "proxies/p/toxics", "{\"name\":\"lag\",\"type\":\"latency\"}"));
        // Names are unique across both streams (TestAddConflictingToxicsMultistream).
        AssertError(HttpStatusCode.Conflict, "toxic already exists", await SendAsync("POST", "proxies/p/toxics", "{\"name\":\"lag\",\"type\":\"latency\",\"stream\":\"upstream\"}"));
        AssertError(HttpStatusCode.BadRequest, "invalid toxic type", await SendAsync("POST", "proxies/p/toxics", "{\"type\":\"gremlin\"}"));
        AssertError(HttpStatusCode.BadRequest, "stream was invalid, can be either upstream or downstream", await SendAsync("POST", "proxies/p/toxics", "{\"type\":\"latency\",\"stream\":\"sideways\"}"));
        Assert.StartsWith("{\"error\":\"bad request body: ", (await SendAsync("POST", "proxies/p/toxics", "[")).Body);
        Assert.StartsWith("{\"error\":\"bad request body: ", (await SendAsync("POST", "proxies/p/toxics", "{\"type\":\"latency\",\"name\":\"x\",\"attributes\":{\"latency\":1.5}}")).Body);
        AssertError(HttpStatusCode.NotFound, "toxic not found", await SendAsync("GET", "proxies/p/toxics/nope"));
        AssertError(HttpStatusCode.NotFound, "toxic not found", await SendAsync("PATCH", "proxies/p/toxics/nope", "{}"));
        AssertError(HttpStatusCode.NotFound, "toxic not found", await SendAsync("DELETE", "proxies/p/toxics/nope"));
        AssertError(HttpStatusCode.NotFound, "proxy not found", await SendAsync("POST", "proxies/nope/toxics", "{\"type\":\"latency\"}"));
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync("DELETE", "proxies/p/toxics/lag")).Status);
    }

    [Fact]
    public async Task Toxic_update_is_a_partial_merge()
    {
        await _rig.EchoProxyAsync("p");
        await _rig.Client.AddToxicAsync("p", "latency", attributes: new { latency = 100, jitter = 10 });
        var updated = await _rig.Client.UpdateToxicAsync("p", "latency_downstream", new { latency = 1000 });
        Assert.Equal(1000, updated.Attribute("latency"));
        Assert.Equal(10, updated.Attribute("jitter")); // TestUpdateToxics
        Assert.Equal(1.0f, updated.Toxicity);

        var post = await SendAsync("POST", "proxies/p/toxics/latency_downstream", "{\"toxicity\":0.25}");
        Assert.Equal("{\"attributes\":{\"latency\":1000,\"jitter\":10},\"name\":\"latency_downstream\",\"type\":\"latency\",\"stream\":\"downstream\",\"toxicity\":0.25}", post.Body);
    }

    [Fact]
    public async Task Populate_validates_everything_before_creating_anything()
    {
        var answer = await SendAsync("POST", "populate",
            $"[{{\"name\":\"one\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"{_rig.Echo.Address}\"}},{{\"listen\":\"127.0.0.1:0\",\"upstream\":\"{_rig.Echo.Address}\"}}]");
        Assert.Equal(HttpStatusCode.BadRequest, answer.Status);
        Assert.Equal("{\"error\":\"missing required field: name at proxy 2\",\"status\":400,\"proxies\":null}", answer.Body);
        Assert.Empty(await _rig.Client.ListAsync());
    }

    [Fact]
    public async Task Populate_keeps_identical_proxies_and_replaces_changed_ones()
    {
        string keepListen = $"127.0.0.1:{Net.FreePort()}";
        string replaceListen = $"127.0.0.1:{Net.FreePort()}";
        var created = await _rig.Client.PopulateAsync([new("keep", keepListen, _rig.Echo.Address), new("replace", replaceListen, _rig.Echo.Address)]);
        Assert.Equal(["keep", "replace"], created.Select(p => p.Name).ToArray());
        await _rig.Client.AddToxicAsync("keep", "latency", attributes: new { latency = 5 });
        await _rig.Client.AddToxicAsync("replace", "latency", attributes: new { latency = 5 });
        await _rig.Client.SetEnabledAsync("keep", false);

        await using var other = new EchoServer();
        var second = await _rig.Client.PopulateAsync([new("keep", keepListen, _rig.Echo.Address), new("replace", replaceListen, other.Address)]);

        var kept = second.Single(p => p.Name == "keep");
        Assert.Single(kept.Toxics);  // untouched: toxics kept ...
        Assert.False(kept.Enabled);  // ... and not re-enabled
        var replaced = second.Single(p => p.Name == "replace");
        Assert.Empty(replaced.Toxics);
        Assert.Equal(other.Address, replaced.Upstream);
        Assert.True(replaced.Enabled);
    }

    [Fact]
    public async Task Populate_failing_part_way_keeps_and_reports_what_was_done()
    {
        using var squatter = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        squatter.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        squatter.Listen();
        string taken = $"127.0.0.1:{((IPEndPoint)squatter.LocalEndPoint!).Port}";

        var error = await Assert.ThrowsAsync<ToxiproxyException>(() => _rig.Client.PopulateAsync(
            [new("first", "127.0.0.1:0", _rig.Echo.Address), new("second", taken, _rig.Echo.Address), new("third", "127.0.0.1:0", _rig.Echo.Address)]));
        Assert.Equal(500, error.Status);
        Assert.Equal($"listen tcp {taken}: bind: address already in use", error.Error);
        Assert.Equal(["first"], error.AppliedProxies.Select(p => p.Name).ToArray());
        Assert.Equal(["first"], (await _rig.Client.ListAsync()).Keys.ToArray());
    }

    [Fact]
    public async Task Reset_enables_every_proxy_and_removes_every_toxic_but_keeps_proxies()
    {
        await _rig.Client.CreateProxyAsync("r", "127.0.0.1:0", _rig.Echo.Address, enabled: false);
        await _rig.Client.AddToxicAsync("r", "latency", attributes: new { latency = 100, jitter = 10 });
        await _rig.Client.AddToxicAsync("r", "timeout", "upstream");

        var reset = await SendAsync("POST", "reset");
        Assert.Equal(HttpStatusCode.NoContent, reset.Status);
        Assert.Equal("", reset.Body);

        var proxy = await _rig.Client.GetProxyAsync("r");
        Assert.True(proxy.Enabled);
        Assert.Empty(proxy.Toxics);
        using var socket = await Net.ConnectAsync(proxy.Listen);
        await Net.SendAsync(socket, "hi"u8.ToArray());
        Assert.Equal("hi"u8.ToArray(), await Net.ReadExactlyAsync(socket, 2));
    }

    [Fact]
    public async Task Proxy_update_by_post_and_patch_keeps_missing_fields()
    {
        await _rig.EchoProxyAsync("u");
        var disabled = await SendAsync("PATCH", "proxies/u", "{\"enabled\":false}");
        Assert.Equal(HttpStatusCode.OK, disabled.Status);
        Assert.Contains($"\"upstream\":\"{_rig.Echo.Address}\",\"enabled\":false", disabled.Body);
        var enabled = await SendAsync("POST", "proxies/u", "{\"enabled\":true}");
        Assert.Contains("\"enabled\":true", enabled.Body);
    }
}
