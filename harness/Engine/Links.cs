using Dtx.Harness.Implementations;
using Dtx.Harness.Proxy;
using Npgsql;

namespace Dtx.Harness.Engine;

/// <summary>
/// Every network link of one implementation's run: each service to PostgreSQL and to RabbitMQ, each producer to
/// txbroker, txbroker's check-back to each producer, and the load generator to the initiator. A link the scenario
/// faults goes through its own proxy, and faults on it are made only through the Toxiproxy HTTP API, so the embedded
/// proxy and a real Toxiproxy server are interchangeable. Every other link goes direct: a user-space proxy costs
/// each link CPU the implementations need (two cores, shared by everything), and measuring them through it would
/// measure the proxy. The harness's own probes and control requests always go direct: they observe and steer, and
/// must not be cut by the faults they observe.
/// </summary>
public sealed class Links
{
    private readonly ToxiproxyClient _toxiproxy;
    private readonly string _prefix;
    private readonly Dictionary<string, Uri> _listen = new();
    private readonly Dictionary<string, Uri> _direct = new();

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

    /// <summary>
    /// Creates a proxy for each link in <paramref name="proxied"/> (every link when null): upstreams are the servers and
    /// the services' direct ports; listens are ephemeral. The other links stay direct.
    /// </summary>
    public static async Task<Links> CreateAsync(ToxiproxyClient toxiproxy, string prefix, IImplementation implementation,
        string postgresAdmin, string amqp, IReadOnlyDictionary<string, Uri> serviceUrls, IReadOnlyCollection<string>? proxied, CancellationToken ct)
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
            links._direct[link] = new Uri($"tcp://{address}");
            if (proxied is null || proxied.Contains(link)) await links.AddAsync(link, address, ct);
        }
        return links;
    }

    /// <summary>The links a scenario's faults name: the only ones that need a proxy.</summary>
    public static IReadOnlyCollection<string> FaultedBy(IEnumerable<Faults.FaultPlan> faults) =>
        faults.OfType<Faults.LinkFault>().SelectMany(f => f.Links).ToHashSet(StringComparer.Ordinal);

    private async Task AddAsync(string link, string upstream, CancellationToken ct)
    {
        var proxy = await _toxiproxy.CreateProxyAsync(ProxyName(link), "127.0.0.1:0", upstream, ct: ct);
        _listen[link] = new Uri($"tcp://{proxy.Listen}");
    }

    /// <summary>True when <paramref name="link"/> goes through a proxy, so that it can be faulted.</summary>
    public bool Has(string link) => _listen.ContainsKey(link);

    /// <summary>A service's database connection string, pointed at its own proxy to PostgreSQL when it has one.</summary>
    public string Database(string service, string connectionString) =>
        _listen.TryGetValue($"{service}-postgres", out var through)
            ? new NpgsqlConnectionStringBuilder(connectionString) { Host = through.Host, Port = through.Port }.ConnectionString
            : connectionString;

    /// <summary>A service's AMQP URI, pointed at its own proxy to RabbitMQ when it has one.</summary>
    public string Amqp(string service, string amqp) =>
        _listen.TryGetValue($"{service}-rabbitmq", out var through)
            ? new UriBuilder(amqp) { Host = through.Host, Port = through.Port }.Uri.ToString()
            : amqp;

    /// <summary>The HTTP address of <paramref name="link"/> (to txbroker, to a producer's check-back, to the initiator): its proxy's, or the service's own.</summary>
    public Uri Http(string link)
    {
        var address = _listen.TryGetValue(link, out var through) ? through : _direct[link];
        return new Uri($"http://{address.Host}:{address.Port}");
    }

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
