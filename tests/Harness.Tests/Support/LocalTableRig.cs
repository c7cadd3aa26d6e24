using System.Globalization;
using System.Net.Http.Json;
using Dtx.Harness.Engine;
using Dtx.Harness.Implementations;
using Dtx.Harness.Infrastructure;
using Dtx.Harness.Services;
using Dtx.Shared.Business;
using Dtx.Shared.Sql;
using Npgsql;

namespace Dtx.Tests.Support;

/// <summary>
/// A LocalTable deployment for one test: fresh databases and queues on the shared servers, the initiator and the
/// participant as real processes under a <see cref="Supervisor"/>, and a client for <c>POST /orders</c>.
/// </summary>
public sealed class LocalTableRig : IAsyncDisposable
{
    private readonly HttpClient _client;

    private LocalTableRig(ServersFixture servers, RunTarget target, Supervisor supervisor)
    {
        Servers = servers;
        Target = target;
        Supervisor = supervisor;
        _client = new HttpClient { BaseAddress = supervisor.UrlOf("initiator"), Timeout = TimeSpan.FromSeconds(10) };
        Inventory = Database.Open(target.InventoryDb, "test");
        Orders = Database.Open(target.OrdersDb, "test");
    }

    public ServersFixture Servers { get; }
    public RunTarget Target { get; }
    public Supervisor Supervisor { get; }
    public NpgsqlDataSource Inventory { get; }
    public NpgsqlDataSource Orders { get; }
    public List<string> Said { get; } = [];

    public static async Task<LocalTableRig> StartAsync(ServersFixture servers, double refuseShare = 0, string replyTimeout = "3s",
        IReadOnlyDictionary<string, string>? initiatorFailpoints = null, IReadOnlyDictionary<string, string>? participantFailpoints = null, long stock = 1000)
    {
        var tag = "t" + Guid.NewGuid().ToString("N")[..8];
        var target = new RunTarget(
            await servers.Postgres.CreateDatabaseAsync(tag + "_inventory"),
            await servers.Postgres.CreateDatabaseAsync(tag + "_orders"),
            servers.RabbitMq.AmqpUri,
            "test." + tag);
        await Database.ApplySchemaAsync(target.InventoryDb, default, Dtx.Shared.Business.Inventory.Schema);
        await using (var db = Database.Open(target.InventoryDb, "test-seed"))
            await Database.ExecuteAsync(db, $"INSERT INTO stock VALUES ('sku-01', {stock}), ('sku-02', 5); INSERT INTO stock_seed SELECT * FROM stock;");

        var said = new List<string>();
        var supervisor = new Supervisor(new LocalTableImplementation().Name, new RunClock(), servers.LogDir, line => { lock (said) said.Add(line); });
        var implementation = new LocalTableImplementation();
        foreach (var service in implementation.Services)
        {
            var port = FreePort.Next();
            var options = new Dictionary<string, string>
            {
                ["http-port"] = port.ToString(CultureInfo.InvariantCulture),
                ["db"] = implementation.DatabaseOf(service, target),
                ["amqp"] = target.Amqp,
                ["queue-prefix"] = target.QueuePrefix,
                ["refuse-share"] = refuseShare.ToString(CultureInfo.InvariantCulture),
                ["reply-timeout"] = replyTimeout,
                ["lease"] = "1s",
                ["poll-interval"] = "100ms",
            };
            var failpoints = service == "initiator" ? initiatorFailpoints : participantFailpoints;
            if (failpoints is not null) options["failpoints"] = string.Join(';', failpoints.Select(kv => $"{kv.Key}={kv.Value}"));
            await supervisor.StartAsync(service, options, port, default);
        }
        var rig = new LocalTableRig(servers, target, supervisor);
        rig.Said.AddRange(said);
        return rig;
    }

    public async Task<HttpResponseMessage> PlaceAsync(PlaceOrder order) => await _client.PostAsJsonAsync("/orders", order, Json.Options);

    public async Task<long> ScalarAsync(NpgsqlDataSource db, string sql)
    {
        await using var command = db.CreateCommand(sql);
        return Convert.ToInt64(await command.ExecuteScalarAsync() ?? 0L);
    }

    public Task<long> InventoryAsync(string sql) => ScalarAsync(Inventory, sql);

    public Task<long> OrdersAsync(string sql) => ScalarAsync(Orders, sql);

    /// <summary>Waits until nothing is in doubt: outboxes empty, no pending order, queues empty.</summary>
    public async Task DrainedAsync(TimeSpan within)
    {
        var (drained, _) = await ScenarioRunner.DrainAsync(new LocalTableImplementation(), Target, within, default);
        if (!drained) throw new TimeoutException($"not drained within {within.TotalSeconds:0}s: {await new LocalTableImplementation().ProbeAsync(Target, default)}");
    }

    /// <summary>Waits until the supervisor has seen this many crashes and restarted after each.</summary>
    public Task<int> RestartedAsync(int crashes) =>
        Eventually.HoldsAsync(() => Task.FromResult(Supervisor.Faults.Count(f => f.EndSeconds is not null)), n => n >= crashes, TimeSpan.FromSeconds(30), $"{crashes} restart(s)");

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await Supervisor.DisposeAsync();
        await Inventory.DisposeAsync();
        await Orders.DisposeAsync();
    }
}
