using Dtx.Harness.Implementations;
using Dtx.Harness.Proxy;
using Npgsql;

namespace Dtx.Harness.Engine;

/// <summary>
/// Every network link of one implementation's run, each through its own proxy (DESIGN.md, "Faults"): each service
/// to PostgreSQL and to RabbitMQ, each producer to txbroker, txbroker's check-back to each producer, and the load
/// generator to the initiator. Faults on a link are made only through the Toxiproxy HTTP API, so the embedded proxy
/// and a real Toxiproxy server are interchangeable. The harness's own probes and control requests go direct: they
/// observe and steer, and must not be cut by the faults they observe.
/// </summary>
public sealed class Links
{
    private readonly ToxiproxyClient _toxiproxy;
    private readonly string _prefix;
    private readonly Dictionary<string, Uri> _listen = new();

    private Links(ToxiproxyClient toxiproxy, string prefix)
    {
        _toxiproxy = toxiproxy;
        _prefix = prefix;
    }

    /// <summary>Link names a scenario can target, e.g. <c>initiator-rabbitmq</c>, <c>checkback-initiator</c>, <c>load-initiator</c>.</summary>
    public IReadOnlyCollection<string> Names => _listen.Keys;

    /// <summary>An implementation's links, each with the service (or server) at its far end: the one place link names are made.</summary>
    private static IEnumerable<(string Link, string Upstream)> Plan(IImplementation implementation)
    {
        foreach (var service in implementation.Services)
        {
            yield return ($"{service}-postgres", "postgres");
            yield return ($"{service}-rabbitmq", "rabbitmq");
        }
        yield return ($"load-{implementation.EntryService}", implementation.EntryService);
        if (!implementation.Services.Contains("txbroker")) yield break;
        foreach (var producer in implementation.Services.Where(s => s != "txbroker"))
        {
            yield return ($"{producer}-txbroker", "txbroker");
            yield return ($"checkback-{producer}", producer);
        }
    }

    /// <summary>The names of an implementation's links, for scenario files to be checked against.</summary>
    public static IEnumerable<string> NamesFor(IImplementation implementation) => Plan(implementation).Select(p => p.Link);

    /// <summary>Creates the proxies: upstreams are the servers and the services' direct ports; listens are ephemeral.</summary>
    public static async Task<Links> CreateAsync(ToxiproxyClient toxiproxy, string prefix, IImplementation implementation,
        string postgresAdmin, string amqp, IReadOnlyDictionary<string, Uri> serviceUrls, CancellationToken ct)
    {
        var links = new Links(toxiproxy, prefix);
        var postgres = new NpgsqlConnectionStringBuilder(postgresAdmin);
        var rabbit = new Uri(amqp);
        foreach (var (link, upstream) in Plan(implementation))
        {
            var address = upstream switch
            {
                "postgres" => $"{postgres.Host}:{postgres.Port}",
                "rabbitmq" => $"{rabbit.Host}:{rabbit.Port}",
                var service => HostPort(serviceUrls[service]),
            };
            await links.AddAsync(link, address, ct);
        }
        return links;
    }

    private async Task AddAsync(string link, string upstream, CancellationToken ct)
    {
        var proxy = await _toxiproxy.CreateProxyAsync(ProxyName(link), "127.0.0.1:0", upstream, ct: ct);
        _listen[link] = new Uri($"tcp://{proxy.Listen}");
    }

    public bool Has(string link) => _listen.ContainsKey(link);

    /// <summary>A service's database connection string, pointed at its own proxy to PostgreSQL.</summary>
    public string Database(string service, string connectionString)
    {
        var through = _listen[$"{service}-postgres"];
        return new NpgsqlConnectionStringBuilder(connectionString) { Host = through.Host, Port = through.Port }.ConnectionString;
    }

    /// <summary>A service's AMQP URI, pointed at its own proxy to RabbitMQ.</summary>
    public string Amqp(string service, string amqp)
    {
        var through = _listen[$"{service}-rabbitmq"];
        return new UriBuilder(amqp) { Host = through.Host, Port = through.Port }.Uri.ToString();
    }

    /// <summary>The HTTP address of <paramref name="link"/>'s proxy (to txbroker, to a producer's check-back, to the initiator).</summary>
    public Uri Http(string link) => new($"http://{_listen[link].Host}:{_listen[link].Port}");

    /// <summary>Disables the link's proxy (connections refused, open ones closed); returns a way to enable it again.</summary>
    public async Task<Func<Task>> CutAsync(string link, CancellationToken ct)
    {
        await _toxiproxy.SetEnabledAsync(ProxyName(link), false, ct);
        return () => _toxiproxy.SetEnabledAsync(ProxyName(link), true, CancellationToken.None);
    }

    /// <summary>Adds a toxic to both directions of a link; returns a way to take both away again.</summary>
    public async Task<Func<Task>> PoisonAsync(string link, string type, object attributes, CancellationToken ct)
    {
        var proxy = ProxyName(link);
        foreach (var stream in new[] { "upstream", "downstream" })
            await _toxiproxy.AddToxicAsync(proxy, type, stream, 1.0f, attributes, $"{type}_{stream}", ct);
        return async () =>
        {
            foreach (var stream in new[] { "upstream", "downstream" })
                await _toxiproxy.RemoveToxicAsync(proxy, $"{type}_{stream}", CancellationToken.None);
        };
    }

    /// <summary>Removes this run's proxies (on a shared Toxiproxy server, other users' proxies stay).</summary>
    public async Task DeleteAsync()
    {
        foreach (var link in _listen.Keys)
        {
            try
            {
                await _toxiproxy.DeleteProxyAsync(ProxyName(link));
            }
            catch (Exception e) when (e is ToxiproxyException or HttpRequestException)
            {
                // Already gone with the server; nothing of this run is left listening.
            }
        }
    }

    private string ProxyName(string link) => $"{_prefix}-{link}";

    private static string HostPort(Uri url) => $"{url.Host}:{url.Port}";
}
