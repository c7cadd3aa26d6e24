using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Dtx.Harness.Proxy;

/// <summary>A proxy as the Toxiproxy API describes it.</summary>
public sealed record ProxyInfo(string Name, string Listen, string Upstream, bool Enabled, IReadOnlyList<ToxicInfo> Toxics);

/// <summary>A toxic as the Toxiproxy API describes it; <see cref="Attributes"/> are kept as JSON since their set depends on the type.</summary>
public sealed record ToxicInfo(string Name, string Type, string Stream, float Toxicity, IReadOnlyDictionary<string, JsonElement> Attributes)
{
    /// <summary>An integer attribute (all of Toxiproxy's built-in toxics have only those).</summary>
    public long Attribute(string name) => Attributes[name].GetInt64();
}

/// <summary>One entry of a <c>/populate</c> request; <see cref="Enabled"/> null means the server default (true).</summary>
public sealed record ProxyDefinition(string Name, string Listen, string Upstream, bool? Enabled = null);

/// <summary>An error answer from the API, worded like the Go client: <c>HTTP 404: proxy not found</c>.</summary>
public sealed class ToxiproxyException(int status, string error, IReadOnlyList<ProxyInfo>? appliedProxies = null)
    : Exception($"HTTP {status}: {error}")
{
    public int Status { get; } = status;

    /// <summary>The server's message alone, e.g. <c>proxy not found</c>.</summary>
    public string Error { get; } = error;

    /// <summary>For a failed <c>/populate</c>: the proxies created or kept before the failure.</summary>
    public IReadOnlyList<ProxyInfo> AppliedProxies { get; } = appliedProxies ?? [];
}

/// <summary>
/// The harness's only way to make network faults: a client for Toxiproxy 2.x's HTTP API, which works the same against the
/// embedded <see cref="ToxiproxyServer"/> and against a real Toxiproxy (e.g. <c>http://host:8474</c>).
/// Like the Go client it sends JSON, updates proxies with POST and toxics with PATCH, and gives up after 30 s.
/// </summary>
public sealed class ToxiproxyClient : IDisposable
{
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly HttpClient _http;
    private readonly bool _ownsHttp;

    public ToxiproxyClient(string apiUri = "http://127.0.0.1:8474")
        : this(new Uri(apiUri))
    {
    }

    public ToxiproxyClient(Uri apiUri, HttpClient? http = null)
    {
        _ownsHttp = http is null;
        _http = http ?? new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        _http.BaseAddress ??= new Uri(apiUri.ToString().TrimEnd('/') + "/");
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("dtx-harness", "0.1"));
    }

    public Uri ApiUri => _http.BaseAddress!;

    public Task<ProxyInfo> CreateProxyAsync(string name, string listen, string upstream, bool enabled = true, CancellationToken ct = default) =>
        SendAsync<ProxyInfo>(HttpMethod.Post, "proxies", new { name, listen, upstream, enabled }, ct);

    public Task<ProxyInfo> GetProxyAsync(string name, CancellationToken ct = default) =>
        SendAsync<ProxyInfo>(HttpMethod.Get, $"proxies/{Escape(name)}", null, ct);

    public Task<IReadOnlyDictionary<string, ProxyInfo>> ListAsync(CancellationToken ct = default) =>
        SendAsync<IReadOnlyDictionary<string, ProxyInfo>>(HttpMethod.Get, "proxies", null, ct);

    /// <summary>Changes listen, upstream and/or enabled; what is null stays. Changing an address drops the proxy's connections.</summary>
    public Task<ProxyInfo> UpdateProxyAsync(string name, string? listen = null, string? upstream = null, bool? enabled = null, CancellationToken ct = default) =>
        SendAsync<ProxyInfo>(HttpMethod.Post, $"proxies/{Escape(name)}", new { listen, upstream, enabled }, ct);

    /// <summary>Down (false: listener closed, live connections closed) or up again (true).</summary>
    public Task<ProxyInfo> SetEnabledAsync(string name, bool enabled, CancellationToken ct = default) =>
        UpdateProxyAsync(name, enabled: enabled, ct: ct);

    public Task DeleteProxyAsync(string name, CancellationToken ct = default) =>
        SendAsync<object>(HttpMethod.Delete, $"proxies/{Escape(name)}", null, ct);

    /// <summary>Creates or replaces many proxies; ones identical to an existing proxy are kept as they are, toxics included.</summary>
    /// <exception cref="ToxiproxyException">With <see cref="ToxiproxyException.AppliedProxies"/> set to what was done before the failure.</exception>
    public async Task<IReadOnlyList<ProxyInfo>> PopulateAsync(IEnumerable<ProxyDefinition> proxies, CancellationToken ct = default)
    {
        using var response = await _http.SendAsync(Request(HttpMethod.Post, "populate", proxies.ToList()), ct).ConfigureAwait(false);
        string text = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        PopulateAnswer? answer = null;
        try { answer = JsonSerializer.Deserialize<PopulateAnswer>(text, Options); }
        catch (JsonException) when (!response.IsSuccessStatusCode) { }
        if (!response.IsSuccessStatusCode)
            throw new ToxiproxyException((int)response.StatusCode, answer?.Error ?? text.Trim(), answer?.Proxies);
        return answer?.Proxies ?? [];
    }

    /// <summary>Re-enables every proxy and removes every toxic; proxies are kept.</summary>
    public Task ResetAsync(CancellationToken ct = default) => SendAsync<object>(HttpMethod.Post, "reset", null, ct);

    /// <summary>
    /// Adds a toxic. <paramref name="stream"/> is <c>upstream</c> (client→server) or <c>downstream</c>;
    /// <paramref name="attributes"/> is anything that serialises to the toxic's attribute object, e.g.
    /// <c>new { latency = 100, jitter = 10 }</c>; the name defaults to <c>type_stream</c>.
    /// </summary>
    public Task<ToxicInfo> AddToxicAsync(string proxy, string type, string stream = "downstream", float toxicity = 1.0f,
        object? attributes = null, string? name = null, CancellationToken ct = default) =>
        SendAsync<ToxicInfo>(HttpMethod.Post, $"proxies/{Escape(proxy)}/toxics", new { name, type, stream, toxicity, attributes }, ct);

    /// <summary>Changes some attributes and/or the toxicity; the others keep their values.</summary>
    public Task<ToxicInfo> UpdateToxicAsync(string proxy, string toxic, object? attributes = null, float? toxicity = null, CancellationToken ct = default) =>
        SendAsync<ToxicInfo>(HttpMethod.Patch, $"proxies/{Escape(proxy)}/toxics/{Escape(toxic)}", new { attributes, toxicity }, ct);

    public Task<ToxicInfo> GetToxicAsync(string proxy, string toxic, CancellationToken ct = default) =>
        SendAsync<ToxicInfo>(HttpMethod.Get, $"proxies/{Escape(proxy)}/toxics/{Escape(toxic)}", null, ct);

    public Task<IReadOnlyList<ToxicInfo>> ListToxicsAsync(string proxy, CancellationToken ct = default) =>
        SendAsync<IReadOnlyList<ToxicInfo>>(HttpMethod.Get, $"proxies/{Escape(proxy)}/toxics", null, ct);

    public Task RemoveToxicAsync(string proxy, string toxic, CancellationToken ct = default) =>
        SendAsync<object>(HttpMethod.Delete, $"proxies/{Escape(proxy)}/toxics/{Escape(toxic)}", null, ct);

    /// <summary>The server's version string ("git" for an unversioned Toxiproxy build).</summary>
    public async Task<string> VersionAsync(CancellationToken ct = default) =>
        (await SendAsync<VersionAnswer>(HttpMethod.Get, "version", null, ct).ConfigureAwait(false)).Version;

    public void Dispose()
    {
        if (_ownsHttp) _http.Dispose();
    }

    private async Task<T> SendAsync<T>(HttpMethod method, string path, object? body, CancellationToken ct)
    {
        using var response = await _http.SendAsync(Request(method, path, body), ct).ConfigureAwait(false);
        string text = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode) throw Failure(response.StatusCode, text);
        if (response.StatusCode == HttpStatusCode.NoContent || typeof(T) == typeof(object)) return default!;
        return JsonSerializer.Deserialize<T>(text, Options) ?? throw new ToxiproxyException((int)response.StatusCode, "empty response");
    }

    private static HttpRequestMessage Request(HttpMethod method, string path, object? body)
    {
        var request = new HttpRequestMessage(method, path);
        if (body is not null)
            request.Content = new StringContent(JsonSerializer.Serialize(body, Options), Encoding.UTF8, "application/json");
        return request;
    }

    /// <summary>Errors are <c>{"error","status"}</c>; anything else (a 403 for browsers, a proxy's HTML page) is taken as text.</summary>
    private static ToxiproxyException Failure(HttpStatusCode status, string text)
    {
        try
        {
            var error = JsonSerializer.Deserialize<ErrorAnswer>(text, Options);
            if (error?.Error is { } message) return new ToxiproxyException((int)status, message);
        }
        catch (JsonException) { }
        return new ToxiproxyException((int)status, text.Trim());
    }

    private static string Escape(string segment) => Uri.EscapeDataString(segment);

    private sealed record ErrorAnswer(string? Error, int Status);

    private sealed record PopulateAnswer(string? Error, int Status, IReadOnlyList<ProxyInfo>? Proxies);

    private sealed record VersionAnswer(string Version);
}
