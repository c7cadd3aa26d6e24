using System.Net.Http.Json;
using Dtx.Harness.Engine;
using Dtx.Harness.Faults;
using Dtx.Harness.Implementations;
using Dtx.Harness.Infrastructure;
using Dtx.Harness.Scenarios;
using Dtx.Harness.Services;
using Dtx.Shared.Business;
using Dtx.Shared.Sql;
using Npgsql;

namespace Dtx.Tests.Support;

/// <summary>
/// One implementation deployed for one test: fresh databases and queues on the shared servers, every service as a
/// real process under a <see cref="Supervisor"/> (with the same settings a scenario gives them), and a client for
/// <c>POST /orders</c>. Stock: sku-01 has 1000 (or what the test says), sku-02 has 5.
/// </summary>
public sealed class Rig : IAsyncDisposable
{
    private readonly HttpClient _client;

    private Rig(IImplementation implementation, RunTarget target, Supervisor supervisor, FaultLog faults, RunClock clock, PostgresServer postgres, RabbitMqServer rabbit)
    {
        Implementation = implementation;
        Target = target;
        Supervisor = supervisor;
        Faults = faults;
        _clock = clock;
        _postgres = postgres;
        _rabbit = rabbit;
        _client = new HttpClient { BaseAddress = supervisor.UrlOf(implementation.EntryService), Timeout = TimeSpan.FromSeconds(20) };
        Inventory = Database.Open(target.InventoryDb, "test");
        Orders = Database.Open(target.OrdersDb, "test");
        Broker = target.BrokerDb is null ? null : Database.Open(target.BrokerDb, "test");
    }

    public IImplementation Implementation { get; }
    public RunTarget Target { get; }
    public Supervisor Supervisor { get; }

    /// <summary>Every fault window: the nemesis's, and the exits the supervisor saw (a start-up failpoint's crash is one).</summary>
    public FaultLog Faults { get; }

    private readonly RunClock _clock;
    private readonly PostgresServer _postgres;
    private readonly RabbitMqServer _rabbit;

    /// <summary>A nemesis for this rig's services, as a scenario has (without proxies: link faults are not applicable).</summary>
    public Nemesis Nemesis(TimeSpan? loadDuration = null) =>
        new(Implementation, Target, Supervisor, _clock, _postgres, _rabbit, null, Faults, loadDuration ?? TimeSpan.Zero, _ => { });
    public NpgsqlDataSource Inventory { get; }
    public NpgsqlDataSource Orders { get; }
    public NpgsqlDataSource? Broker { get; }

    /// <summary>Timings short enough for tests: a reply is late after 3 s, a half message is checked after 1 s.</summary>
    public static ProtocolTiming FastTiming(string replyTimeout = "3s", string txTimeout = "1s", int maxChecks = 10) => new(
        Dtx.Shared.Failpoints.FailpointSpec.ParseDuration(replyTimeout), TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(100),
        Dtx.Shared.Failpoints.FailpointSpec.ParseDuration(txTimeout), TimeSpan.FromMilliseconds(500), maxChecks);

    /// <param name="failpoints">Per service, failpoints armed in its first process: service → (failpoint → spec).</param>
    public static async Task<Rig> StartAsync(ServersFixture servers, IImplementation implementation, double refuseShare = 0,
        ProtocolTiming? timing = null, IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>>? failpoints = null, long stock = 1000)
    {
        var tag = "t" + Guid.NewGuid().ToString("N")[..8];
        var ports = implementation.Services.ToDictionary(s => s, _ => FreePort.Next());
        var target = new RunTarget(
            await servers.Postgres.CreateDatabaseAsync(tag + "_inventory"),
            await servers.Postgres.CreateDatabaseAsync(tag + "_orders"),
            servers.RabbitMq.AmqpUri,
            "test." + tag,
            implementation.HasBrokerDatabase ? await servers.Postgres.CreateDatabaseAsync(tag + "_txbroker") : null)
        {
            Urls = ports.ToDictionary(kv => kv.Key, kv => new Uri($"http://127.0.0.1:{kv.Value}")),
        };
        await Database.ApplySchemaAsync(target.InventoryDb, default, Dtx.Shared.Business.Inventory.Schema);
        await using (var db = Database.Open(target.InventoryDb, "test-seed"))
            await Database.ExecuteAsync(db, $"INSERT INTO stock VALUES ('sku-01', {stock}), ('sku-02', 5); INSERT INTO stock_seed SELECT * FROM stock;");

        var scenario = new Scenario("test", "", LoadPlan.Constant(1, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5)),
            new BusinessPlan(2, stock, 10, 3, refuseShare), timing ?? FastTiming(), [], TimeSpan.FromSeconds(30));
        var clock = new RunClock();
        clock.Start();
        var faults = new FaultLog();
        var supervisor = new Supervisor(implementation.Name, clock, servers.LogDir, faults, _ => { });
        foreach (var service in implementation.Services)
        {
            var settings = ScenarioRunner.ServiceSettings(scenario, implementation, service, target, ports[service]);
            if (failpoints?.GetValueOrDefault(service) is { } armed)
                settings["failpoints"] = string.Join(';', armed.Select(kv => $"{kv.Key}={kv.Value}"));
            await supervisor.StartAsync(service, settings, ports[service], default);
        }
        return new Rig(implementation, target, supervisor, faults, clock, servers.Postgres, servers.RabbitMq);
    }

    public static Dictionary<string, IReadOnlyDictionary<string, string>> Arm(string service, string failpoint, string spec) =>
        new() { [service] = new Dictionary<string, string> { [failpoint] = spec } };

    public async Task<HttpResponseMessage> PlaceAsync(PlaceOrder order, CancellationToken ct = default) =>
        await _client.PostAsJsonAsync("/orders", order, Json.Options, ct);

    public static async Task<long> ScalarAsync(NpgsqlDataSource db, string sql)
    {
        await using var command = db.CreateCommand(sql);
        return Convert.ToInt64(await command.ExecuteScalarAsync() ?? 0L);
    }

    public Task<long> InventoryAsync(string sql) => ScalarAsync(Inventory, sql);

    public Task<long> OrdersAsync(string sql) => ScalarAsync(Orders, sql);

    public Task<long> BrokerAsync(string sql) => ScalarAsync(Broker ?? throw new InvalidOperationException("no txbroker database"), sql);

    /// <summary>Waits until nothing is in doubt, as the scenario engine's drain does.</summary>
    public async Task DrainedAsync(TimeSpan within)
    {
        var (drained, _) = await ScenarioRunner.DrainAsync(Implementation, Target, within, default);
        if (!drained) throw new TimeoutException($"not drained within {within.TotalSeconds:0}s: {await Implementation.ProbeAsync(Target, default)}");
    }

    /// <summary>Waits until the supervisor has seen this many crashes and restarted after each.</summary>
    public Task<int> RestartedAsync(int crashes) =>
        Eventually.HoldsAsync(() => Task.FromResult(Faults.All.Count(f => f.EndSeconds is not null)), n => n >= crashes, TimeSpan.FromSeconds(30), $"{crashes} restart(s)");

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await Supervisor.DisposeAsync();
        await Inventory.DisposeAsync();
        await Orders.DisposeAsync();
        if (Broker is not null) await Broker.DisposeAsync();
    }
}
