using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Dtx.Harness.Proxy;

/// <summary>
/// An embedded server speaking Toxiproxy 2.x's HTTP API (routes, status codes, JSON shapes and field order, error
/// bodies), so that the harness's <see cref="ToxiproxyClient"/> works unchanged against a real Toxiproxy on :8474.
/// The API runs on Kestrel; the proxies themselves are plain sockets (<see cref="Proxy"/>).
/// </summary>
public sealed class ToxiproxyServer : IAsyncDisposable
{
    /// <summary>What <c>/version</c> reports; Toxiproxy reports the version it was built with, "git" by default.</summary>
    public const string Version = "dtx-0.1";

    private readonly ProxyCollection _proxies = new();
    private readonly WebApplication _app;

    private ToxiproxyServer(WebApplication app, Uri apiUri)
    {
        _app = app;
        ApiUri = apiUri;
    }

    /// <summary>The API's base address, e.g. <c>http://127.0.0.1:8474/</c>, with the real port when 0 was asked for.</summary>
    public Uri ApiUri { get; }

    /// <summary>Starts the API on <paramref name="listen"/> (<c>host:port</c>; port 0 picks a free one).</summary>
    /// <exception cref="ArgumentException">The address cannot be parsed or resolved.</exception>
    /// <exception cref="IOException">The address cannot be bound (e.g. the port is in use).</exception>
    public static async Task<ToxiproxyServer> StartAsync(string listen = "127.0.0.1:8474", CancellationToken ct = default)
    {
        IPEndPoint endpoint;
        try { endpoint = TcpAddress.ResolveForListen(listen); }
        catch (ApiException e) { throw new ArgumentException(e.Message, nameof(listen)); }

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(endpoint);
        });
        builder.Logging.ClearProviders();
        var app = builder.Build();
        ToxiproxyServer? server = null;
        app.Run(context => server!.HandleAsync(context));
        await app.StartAsync(ct).ConfigureAwait(false);
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server = new ToxiproxyServer(app, new Uri(address.TrimEnd('/') + "/"));
        return server;
    }

    /// <summary>Stops the API, then every proxy (closing their connections).</summary>
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        foreach (var proxy in _proxies.All()) proxy.Stop();
    }

    private delegate Task Handler(ToxiproxyServer server, HttpContext context, string[] vars);

    /// <summary>Toxiproxy's route table (<c>api.go</c> <c>Routes()</c>): path pattern, methods, handler.</summary>
    private static readonly (string[] Pattern, string[] Methods, Handler Handler)[] Routes =
    [
        (["reset"], ["POST"], (s, c, _) => s.ResetAsync(c)),
        (["proxies"], ["GET"], (s, c, _) => s.ProxyIndexAsync(c)),
        (["proxies"], ["POST"], (s, c, _) => s.ProxyCreateAsync(c)),
        (["populate"], ["POST"], (s, c, _) => s.PopulateAsync(c)),
        (["proxies", "{}"], ["GET"], (s, c, v) => s.ProxyShowAsync(c, v[0])),
        (["proxies", "{}"], ["POST", "PATCH"], (s, c, v) => s.ProxyUpdateAsync(c, v[0])),
        (["proxies", "{}"], ["DELETE"], (s, c, v) => s.ProxyDeleteAsync(c, v[0])),
        (["proxies", "{}", "toxics"], ["GET"], (s, c, v) => s.ToxicIndexAsync(c, v[0])),
        (["proxies", "{}", "toxics"], ["POST"], (s, c, v) => s.ToxicCreateAsync(c, v[0])),
        (["proxies", "{}", "toxics", "{}"], ["GET"], (s, c, v) => s.ToxicShowAsync(c, v[0], v[1])),
        (["proxies", "{}", "toxics", "{}"], ["POST", "PATCH"], (s, c, v) => s.ToxicUpdateAsync(c, v[0], v[1])),
        (["proxies", "{}", "toxics", "{}"], ["DELETE"], (s, c, v) => s.ToxicDeleteAsync(c, v[0], v[1])),
        (["version"], ["GET"], (_, c, _) => VersionAsync(c)),
    ];

    private async Task HandleAsync(HttpContext context)
    {
        string[] segments = (context.Request.Path.Value ?? "/").Split('/')[1..];
        bool pathMatched = false;
        foreach (var (pattern, methods, handler) in Routes)
        {
            if (!Matches(pattern, segments, out var vars)) continue;
            pathMatched = true;
            if (!methods.Contains(context.Request.Method)) continue;

            // gorilla/mux runs the middlewares only for a matched route: request id first, then the browser check.
            context.Response.Headers["X-Toxiproxy-Request-Id"] = RequestId.Next();
            if (context.Request.Headers.UserAgent.ToString().StartsWith("Mozilla/", StringComparison.Ordinal))
            {
                await WritePlainAsync(context, 403, "User agent not allowed\n").ConfigureAwait(false);
                return;
            }
            try { await handler(this, context, vars).ConfigureAwait(false); }
            catch (ApiException e) { await WriteErrorAsync(context, e).ConfigureAwait(false); }
            catch (Exception e) when (e is not OperationCanceledException) { await WriteErrorAsync(context, new ApiException(500, e.Message)).ConfigureAwait(false); }
            return;
        }
        if (pathMatched) context.Response.StatusCode = 405; // mux's method-mismatch answer: empty body
        else await WritePlainAsync(context, 404, "404 page not found\n").ConfigureAwait(false);
    }

    private static bool Matches(string[] pattern, string[] segments, out string[] vars)
    {
        vars = [];
        if (pattern.Length != segments.Length) return false;
        var found = new List<string>(2);
        for (int i = 0; i < pattern.Length; i++)
        {
            if (pattern[i] == "{}")
            {
                if (segments[i].Length == 0) return false;
                found.Add(Uri.UnescapeDataString(segments[i]));
            }
            else if (pattern[i] != segments[i]) return false;
        }
        vars = [.. found];
        return true;
    }

    // ---- handlers, one per Toxiproxy handler of the same name ----

    private async Task ResetAsync(HttpContext context)
    {
        foreach (var proxy in _proxies.All())
        {
            proxy.Start(); // false = already started, which /reset ignores; a bind error is a 500
            await proxy.Toxics.ResetAsync().ConfigureAwait(false);
        }
        context.Response.StatusCode = 204;
    }

    private async Task ProxyIndexAsync(HttpContext context)
    {
        var proxies = _proxies.All().OrderBy(p => p.Name, StringComparer.Ordinal).ToList(); // Go marshals map keys sorted
        var toxics = new List<IReadOnlyList<ToxicSpec>>();
        foreach (var proxy in proxies) toxics.Add(await proxy.Toxics.ListAsync().ConfigureAwait(false));
        await WriteJsonAsync(context, 200, Json.Write(w =>
        {
            w.WriteStartObject();
            for (int i = 0; i < proxies.Count; i++)
            {
                w.WritePropertyName(proxies[i].Name);
                WriteProxy(w, proxies[i], toxics[i]);
            }
            w.WriteEndObject();
        })).ConfigureAwait(false);
    }

    private async Task ProxyCreateAsync(HttpContext context)
    {
        var body = await ReadBodyAsync(context).ConfigureAwait(false);
        if (body.ValueKind != JsonValueKind.Object)
            throw ApiException.BadRequestBody($"json: cannot unmarshal {Toxic.GoKind(body)} into Go value of type toxiproxy.Proxy");
        string name = Json.OptionalString(body, "name", "Proxy") ?? "";
        string listen = Json.OptionalString(body, "listen", "Proxy") ?? "";
        string upstream = Json.OptionalString(body, "upstream", "Proxy") ?? "";
        bool enabled = Json.OptionalBool(body, "enabled", "Proxy") ?? true;
        if (name.Length == 0) throw ApiException.MissingField("name");
        if (upstream.Length == 0) throw ApiException.MissingField("upstream");

        var proxy = new Proxy(name, listen, upstream);
        _proxies.Add(proxy, enabled); // listening before we answer, so the caller can connect at once
        await WriteProxyAsync(context, 201, proxy).ConfigureAwait(false);
    }

    private async Task PopulateAsync(HttpContext context)
    {
        IReadOnlyList<Proxy> applied;
        ApiException? error;
        try { (applied, error) = _proxies.Populate(await ReadBodyAsync(context).ConfigureAwait(false)); }
        catch (ApiException e) { (applied, error) = ([], e); }

        var toxics = new List<IReadOnlyList<ToxicSpec>>();
        foreach (var proxy in applied) toxics.Add(await proxy.Toxics.ListAsync().ConfigureAwait(false));
        // {"error","status","proxies"} on failure, {"proxies"} on success; Go writes an empty list as null.
        await WriteJsonAsync(context, error?.Status ?? 201, Json.Write(w =>
        {
            w.WriteStartObject();
            if (error is not null)
            {
                w.WriteString("error", error.Message);
                w.WriteNumber("status", error.Status);
            }
            w.WritePropertyName("proxies");
            if (applied.Count == 0) w.WriteNullValue();
            else
            {
                w.WriteStartArray();
                for (int i = 0; i < applied.Count; i++) WriteProxy(w, applied[i], toxics[i]);
                w.WriteEndArray();
            }
            w.WriteEndObject();
        })).ConfigureAwait(false);
    }

    private Task ProxyShowAsync(HttpContext context, string name) => WriteProxyAsync(context, 200, _proxies.Get(name));

    private async Task ProxyUpdateAsync(HttpContext context, string name)
    {
        var proxy = _proxies.Get(name);
        var body = await ReadBodyAsync(context).ConfigureAwait(false);
        if (body.ValueKind != JsonValueKind.Object)
            throw ApiException.BadRequestBody($"json: cannot unmarshal {Toxic.GoKind(body)} into Go value of type toxiproxy.Proxy");
        // Missing fields keep their current values; the name cannot change.
        proxy.Update(
            Json.OptionalString(body, "listen", "Proxy") ?? proxy.Listen,
            Json.OptionalString(body, "upstream", "Proxy") ?? proxy.Upstream,
            Json.OptionalBool(body, "enabled", "Proxy") ?? proxy.Enabled);
        await WriteProxyAsync(context, 200, proxy).ConfigureAwait(false);
    }

    private Task ProxyDeleteAsync(HttpContext context, string name)
    {
        _proxies.Remove(name);
        context.Response.StatusCode = 204;
        return Task.CompletedTask;
    }

    private async Task ToxicIndexAsync(HttpContext context, string proxyName)
    {
        var toxics = await _proxies.Get(proxyName).Toxics.ListAsync().ConfigureAwait(false);
        await WriteJsonAsync(context, 200, Json.Write(w => WriteToxics(w, toxics))).ConfigureAwait(false);
    }

    private async Task ToxicCreateAsync(HttpContext context, string proxyName)
    {
        var proxy = _proxies.Get(proxyName);
        var toxic = await proxy.Toxics.AddAsync(await ReadBodyAsync(context).ConfigureAwait(false)).ConfigureAwait(false);
        await WriteJsonAsync(context, 200, Json.Write(toxic.WriteJson)).ConfigureAwait(false); // 200, not 201, as in Toxiproxy
    }

    private async Task ToxicShowAsync(HttpContext context, string proxyName, string toxicName)
    {
        var toxic = await _proxies.Get(proxyName).Toxics.GetAsync(toxicName).ConfigureAwait(false);
        await WriteJsonAsync(context, 200, Json.Write(toxic.WriteJson)).ConfigureAwait(false);
    }

    private async Task ToxicUpdateAsync(HttpContext context, string proxyName, string toxicName)
    {
        var proxy = _proxies.Get(proxyName);
        var toxic = await proxy.Toxics.UpdateAsync(toxicName, await ReadBodyAsync(context).ConfigureAwait(false)).ConfigureAwait(false);
        await WriteJsonAsync(context, 200, Json.Write(toxic.WriteJson)).ConfigureAwait(false);
    }

    private async Task ToxicDeleteAsync(HttpContext context, string proxyName, string toxicName)
    {
        await _proxies.Get(proxyName).Toxics.RemoveAsync(toxicName).ConfigureAwait(false);
        context.Response.StatusCode = 204;
    }

    private static async Task VersionAsync(HttpContext context)
    {
        byte[] body = Encoding.UTF8.GetBytes($"{{\"version\": \"{Version}\"}}\n"); // Toxiproxy's exact hand-written shape
        context.Response.ContentType = "application/json;charset=utf-8";
        context.Response.ContentLength = body.Length;
        await context.Response.Body.WriteAsync(body).ConfigureAwait(false);
    }

    // ---- reading and writing ----

    private const int MaxBody = 1 << 20;

    private static async Task<JsonElement> ReadBodyAsync(HttpContext context)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await context.Request.Body.ReadAsync(chunk).ConfigureAwait(false)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > MaxBody) throw ApiException.BadRequestBody("http: request body too large");
        }
        return Json.Parse(buffer.GetBuffer().AsMemory(0, (int)buffer.Length));
    }

    private async Task WriteProxyAsync(HttpContext context, int status, Proxy proxy)
    {
        var toxics = await proxy.Toxics.ListAsync().ConfigureAwait(false);
        await WriteJsonAsync(context, status, Json.Write(w => WriteProxy(w, proxy, toxics))).ConfigureAwait(false);
    }

    /// <summary><c>{"name","listen","upstream","enabled","toxics":[…]}</c>: Go's <c>Proxy</c> fields, then the embedded toxics.</summary>
    private static void WriteProxy(Utf8JsonWriter w, Proxy proxy, IReadOnlyList<ToxicSpec> toxics)
    {
        w.WriteStartObject();
        w.WriteString("name", proxy.Name);
        w.WriteString("listen", proxy.Listen);
        w.WriteString("upstream", proxy.Upstream);
        w.WriteBoolean("enabled", proxy.Enabled);
        w.WritePropertyName("toxics");
        WriteToxics(w, toxics);
        w.WriteEndObject();
    }

    private static void WriteToxics(Utf8JsonWriter w, IReadOnlyList<ToxicSpec> toxics)
    {
        w.WriteStartArray();
        foreach (var toxic in toxics) toxic.WriteJson(w);
        w.WriteEndArray();
    }

    private static async Task WriteJsonAsync(HttpContext context, int status, byte[] body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = body.Length;
        await context.Response.Body.WriteAsync(body).ConfigureAwait(false);
    }

    /// <summary>Errors go through Go's <c>http.Error</c>: text/plain content type, the JSON body, and a newline.</summary>
    private static Task WriteErrorAsync(HttpContext context, ApiException error) =>
        WritePlainAsync(context, error.Status, Json.Text(Json.Error(error)) + "\n");

    private static async Task WritePlainAsync(HttpContext context, int status, string text)
    {
        byte[] body = Encoding.UTF8.GetBytes(text);
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        context.Response.Headers["X-Content-Type-Options"] = "nosniff";
        context.Response.ContentLength = body.Length;
        await context.Response.Body.WriteAsync(body).ConfigureAwait(false);
    }
}
