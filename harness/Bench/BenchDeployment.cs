using System.Net.Http.Json;
using Dtx.Harness.Checking;
using Dtx.Harness.Engine;
using Dtx.Harness.Faults;
using Dtx.Harness.Implementations;
using Dtx.Harness.Infrastructure;
using Dtx.Harness.Scenarios;
using Dtx.Harness.Services;
using Dtx.Shared.Hosting;
using Dtx.Shared.Messaging;
using Dtx.Shared.Sql;
using Npgsql;

namespace Dtx.Harness.Bench;

/// <summary>
/// One implementation deployed for measuring: fresh databases with stock that never runs out, every service in its own
/// process, every link direct (a fault proxy would be measured too), and the readings a cost per order is made of.
/// </summary>
public sealed class BenchDeployment : IAsyncDisposable
{
    private readonly IImplementation _implementation;
    private readonly RunServers _servers;
    private readonly Supervisor _supervisor;
    private readonly string _prefix;

    private BenchDeployment(IImplementation implementation, RunServers servers, Supervisor supervisor, RunTarget target, string prefix)
    {
        (_implementation, _servers, _supervisor, Target, _prefix) = (implementation, servers, supervisor, target, prefix);
    }

    public RunTarget Target { get; }

    // One data source each for the probes' lifetime: a new one would load the type catalogue again (more statements).
    private NpgsqlDataSource? _inventoryProbe, _ordersProbe;

    /// <summary>Statements the bench's own probes ran on the business databases (each one statement, one transaction): not an order's cost.</summary>
    private long _probes;

    public Uri EntryUrl => Target.Urls[_implementation.EntryService];

    public static async Task<BenchDeployment> StartAsync(IImplementation implementation, RunServers servers, Scenario settings, string tag,
        string logDir, Action<string> say, CancellationToken ct)
    {
        var prefix = $"dtx_{tag}_{implementation.Name.Replace('-', '_')}";
        var ports = implementation.Services.ToDictionary(s => s, _ => FreePort.Next());
        var supervisor = new Supervisor(implementation.Name, new RunClock(), logDir, new FaultLog(), say);
        // Until the databases exist the target only names them: a failure or Ctrl+C while creating or seeding them
        // still drops whichever were made (IF EXISTS), so no dtx_* database is left on a user's own server.
        var target = new RunTarget(
            servers.Postgres.ConnectionStringFor(prefix + "_inventory"),
            servers.Postgres.ConnectionStringFor(prefix + "_orders"),
            servers.Rabbit.AmqpUri,
            $"dtx.{tag}.{implementation.Name}",
            implementation.HasBrokerDatabase ? servers.Postgres.ConnectionStringFor(prefix + "_txbroker") : null)
        {
            Urls = ports.ToDictionary(kv => kv.Key, kv => new Uri($"http://127.0.0.1:{kv.Value}")),
        };
        var deployment = new BenchDeployment(implementation, servers, supervisor, target, prefix);
        try
        {
            await servers.Postgres.CreateDatabaseAsync(prefix + "_inventory", ct);
            await servers.Postgres.CreateDatabaseAsync(prefix + "_orders", ct);
            if (implementation.HasBrokerDatabase) await servers.Postgres.CreateDatabaseAsync(prefix + "_txbroker", ct);
            await ScenarioRunner.SeedAsync(target, settings.Business, ct);
            foreach (var service in implementation.Services)
                await supervisor.StartAsync(service, ScenarioRunner.ServiceSettings(settings, implementation, service, target, ports[service]), ports[service], ct);
        }
        catch
        {
            await deployment.DisposeAsync();
            throw;
        }
        return deployment;
    }

    /// <summary>Orders the initiator still waits on: what a step left for the next one, if it could not keep up.</summary>
    public async Task<long> PendingOrdersAsync(CancellationToken ct)
    {
        Interlocked.Increment(ref _probes);
        _inventoryProbe ??= Database.Open(Target.InventoryDb, "bench-probe");
        return await Sql.ScalarAsync(_inventoryProbe, "SELECT count(*) FROM inventory_orders WHERE status = 'pending'", ct);
    }

    /// <summary>When the participant committed each order whose id starts with <paramref name="idPrefix"/>.</summary>
    public async Task<IReadOnlyDictionary<string, DateTimeOffset>> ProcessedAtAsync(string idPrefix, CancellationToken ct)
    {
        Interlocked.Increment(ref _probes);
        _ordersProbe ??= Database.Open(Target.OrdersDb, "bench-probe");
        await using var read = _ordersProbe.CreateCommand("SELECT order_id, processed_at FROM orders WHERE order_id LIKE @prefix");
        read.Parameters.AddWithValue("prefix", idPrefix + "%");
        var processed = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        await using var reader = await read.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            processed[reader.GetString(0)] = new DateTimeOffset(reader.GetDateTime(1).ToUniversalTime(), TimeSpan.Zero);
        return processed;
    }

    /// <summary>Everything one order's cost is made of, summed over the services and databases, at one moment.</summary>
    public sealed record Reading(
        ServiceCounters.Snapshot Counters,
        DbCounters Business,
        DbCounters? Broker,
        IReadOnlyDictionary<string, ProcessMeter.Reading?> Processes);

    public async Task<Reading> ReadAsync(CancellationToken ct)
    {
        await using var admin = DbCounters.OpenAdmin(_servers.Postgres);
        var business = await DbCounters.ReadAsync(admin, [_prefix + "_inventory", _prefix + "_orders"], ct);
        var probes = Interlocked.Read(ref _probes);
        business = business with { Statements = business.Statements - probes, Transactions = business.Transactions - probes };
        var broker = _implementation.HasBrokerDatabase ? await DbCounters.ReadAsync(admin, [_prefix + "_txbroker"], ct) : null;
        var processes = Sampler.ReadProcesses(_implementation, _supervisor, _servers).ToDictionary(p => p.Key, p => (ProcessMeter.Reading?)p.Value.Reading);
        return new Reading(_supervisor.Counters(), business, broker, processes);
    }

    /// <summary>
    /// Where the databases' time went: this implementation's statements by total execution time, from
    /// pg_stat_statements (empty without it), as lines for the run folder — the first thing to read when a rate falls short.
    /// </summary>
    public async Task<IReadOnlyList<string>> TopStatementsAsync(int limit, CancellationToken ct)
    {
        var lines = new List<string> { "database\tcalls\ttotal ms\tmean ms\trows\tstatement" };
        try
        {
            await using var admin = Database.Open(_servers.Postgres.AdminConnectionString, "bench-probe");
            await using var top = admin.CreateCommand("""
                SELECT d.datname, s.calls, s.total_exec_time, s.mean_exec_time, s.rows, regexp_replace(s.query, '\s+', ' ', 'g')
                FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
                WHERE d.datname LIKE @prefix ORDER BY s.total_exec_time DESC LIMIT @limit
                """);
            top.Parameters.AddWithValue("prefix", _prefix + "%");
            top.Parameters.AddWithValue("limit", limit);
            await using var reader = await top.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
                lines.Add(string.Join('\t', reader.GetString(0)[(_prefix.Length + 1)..], reader.GetInt64(1),
                    reader.GetDouble(2).ToString("0", System.Globalization.CultureInfo.InvariantCulture),
                    reader.GetDouble(3).ToString("0.###", System.Globalization.CultureInfo.InvariantCulture), reader.GetInt64(4), reader.GetString(5)));
        }
        catch (PostgresException e)
        {
            lines.Add($"(not available: {e.MessageText})");
        }
        return lines;
    }

    public async ValueTask DisposeAsync()
    {
        await _supervisor.DisposeAsync();
        if (_inventoryProbe is not null) await _inventoryProbe.DisposeAsync();
        if (_ordersProbe is not null) await _ordersProbe.DisposeAsync();
        try
        {
            await _servers.Postgres.DropDatabaseAsync(_prefix + "_inventory");
            await _servers.Postgres.DropDatabaseAsync(_prefix + "_orders");
            if (Target.BrokerDb is not null) await _servers.Postgres.DropDatabaseAsync(_prefix + "_txbroker");
            var queues = QueueNames.For(Target.QueuePrefix);
            await BrokerQueues.DeleteAsync(Target.Amqp, CancellationToken.None, queues.Orders, queues.Replies);
        }
        catch (Exception e) when (e is Npgsql.NpgsqlException or RabbitMQ.Client.Exceptions.RabbitMQClientException or IOException)
        {
            // Leftovers on servers the bench started go with them; on a user's own servers, dtx_* names say whose they are.
        }
    }
}
