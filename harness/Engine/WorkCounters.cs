using Dtx.Harness.Infrastructure;
using Dtx.Harness.Services;
using Dtx.Shared.Hosting;
using Dtx.Shared.Sql;
using Npgsql;

namespace Dtx.Harness.Engine;

/// <summary>
/// What a group of databases did, from PostgreSQL's statistics: statements (null without pg_stat_statements),
/// transactions, and rows written (inserted, updated, deleted). Each reading takes the server's administrative data
/// source (<see cref="OpenAdmin"/>), so that a caller taking several readings opens one connection for all of them.
/// </summary>
public sealed record DbCounters(long? Statements, long Transactions, long RowsWritten)
{
    public static NpgsqlDataSource OpenAdmin(PostgresServer postgres) => Database.Open(postgres.AdminConnectionString, "harness-counters");

    public static async Task<DbCounters> ReadAsync(NpgsqlDataSource admin, IReadOnlyList<string> databases, CancellationToken ct)
    {
        long transactions, rows;
        await using (var stats = admin.CreateCommand("""
            SELECT coalesce(sum(xact_commit + xact_rollback), 0)::bigint, coalesce(sum(tup_inserted + tup_updated + tup_deleted), 0)::bigint
            FROM pg_stat_database WHERE datname = ANY(@names)
            """))
        {
            stats.Parameters.AddWithValue("names", databases.ToArray());
            await using var reader = await stats.ExecuteReaderAsync(ct);
            await reader.ReadAsync(ct);
            (transactions, rows) = (reader.GetInt64(0), reader.GetInt64(1));
        }
        long? statements = null;
        try
        {
            await using var count = admin.CreateCommand("""
                SELECT coalesce(sum(s.calls), 0)::bigint FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
                WHERE d.datname = ANY(@names)
                """);
            count.Parameters.AddWithValue("names", databases.ToArray());
            statements = (long)(await count.ExecuteScalarAsync(ct))!;
        }
        catch (PostgresException)
        {
            // No pg_stat_statements on this server (an external one without it): statements are not counted.
        }
        return new DbCounters(statements, transactions, rows);
    }

    /// <summary>
    /// Waits, at most <paramref name="patience"/>, until no connection to <paramref name="databases"/> is left. A backend
    /// reports its figures to the statistics at most once a second while busy and may hold them for up to 10 s while
    /// idle (PostgreSQL 15), but always when it exits: once the services are stopped and their backends gone, every
    /// row they wrote is counted.
    /// </summary>
    /// <returns>False when a connection was still open after <paramref name="patience"/>: its figures may be missing.</returns>
    public static async Task<bool> WaitUntilDisconnectedAsync(NpgsqlDataSource admin, IReadOnlyList<string> databases, TimeSpan patience, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + patience;
        while (true)
        {
            // Client backends only: an autovacuum worker tidying the outbox is no one's unreported work.
            await using var count = admin.CreateCommand("SELECT count(*) FROM pg_stat_activity WHERE datname = ANY(@names) AND backend_type = 'client backend'");
            count.Parameters.AddWithValue("names", databases.ToArray());
            if ((long)(await count.ExecuteScalarAsync(ct))! == 0) return true;
            if (DateTime.UtcNow >= deadline) return false;
            await Task.Delay(50, ct);
        }
    }

    /// <summary>When the PostgreSQL server started: a restart in between resets its statistics (after a crash) or may (after a stop).</summary>
    public static async Task<DateTime> ServerStartedAsync(NpgsqlDataSource admin, CancellationToken ct)
    {
        await using var started = admin.CreateCommand("SELECT pg_postmaster_start_time()");
        return (DateTime)(await started.ExecuteScalarAsync(ct))!;
    }
}

/// <summary>
/// What a scenario run's orders cost, per order the participant decided (created or rejected), over the whole run
/// from the load's start to the services' stop: everything the faults made the implementation do again is in it.
/// Messages and HTTP round trips come from the services' own counters (<see cref="ServiceCounters"/>), which a
/// crash cannot take back; rows written from PostgreSQL's statistics, which a restart of PostgreSQL resets: then
/// they are null and <see cref="DatabaseNotMeasured"/> says why.
/// </summary>
/// <param name="HttpRoundTrips">Every protocol request a service served: the client's orders (retries too), and half-message's prepare, commit and check-back.</param>
/// <param name="BusinessDbRowsWritten">Rows inserted, updated and deleted in the initiator's and the participant's databases.</param>
/// <param name="BrokerStoreRowsWritten">The same in txbroker's store; null for an implementation without one.</param>
public sealed record RunCost(
    int Orders,
    double MessagesPublished,
    double MessagesConsumed,
    double HttpRoundTrips,
    double? BusinessDbRowsWritten,
    double? BrokerStoreRowsWritten,
    string? DatabaseNotMeasured = null)
{
    /// <summary>Rows written in both stores, business and txbroker's: the one figure the reports compare; null when not measured.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public double? RowsWritten => BusinessDbRowsWritten is { } business ? business + (BrokerStoreRowsWritten ?? 0) : null;
}

/// <summary>Takes the readings a <see cref="RunCost"/> is made of: once before the load, once after the services stopped.</summary>
public sealed class CostMeter
{
    private static readonly TimeSpan DisconnectPatience = TimeSpan.FromSeconds(5);

    private readonly Supervisor _supervisor;
    private readonly PostgresServer _postgres;
    private readonly string[] _business;
    private readonly string[]? _broker;
    private readonly ServiceCounters.Snapshot _counters;
    private readonly (DbCounters Business, DbCounters? Broker, DateTime ServerStarted)? _databases;
    private readonly string? _notMeasured;

    private CostMeter(Supervisor supervisor, PostgresServer postgres, string[] business, string[]? broker, ServiceCounters.Snapshot counters,
        (DbCounters, DbCounters?, DateTime)? databases, string? notMeasured) =>
        (_supervisor, _postgres, _business, _broker, _counters, _databases, _notMeasured) = (supervisor, postgres, business, broker, counters, databases, notMeasured);

    /// <param name="business">The initiator's and the participant's databases.</param>
    /// <param name="broker">txbroker's store, or null.</param>
    public static async Task<CostMeter> StartAsync(Supervisor supervisor, PostgresServer postgres, string[] business, string[]? broker, CancellationToken ct)
    {
        var counters = supervisor.Counters();
        try
        {
            await using var admin = DbCounters.OpenAdmin(postgres);
            var databases = (await DbCounters.ReadAsync(admin, business, ct), broker is null ? null : await DbCounters.ReadAsync(admin, broker, ct),
                await DbCounters.ServerStartedAsync(admin, ct));
            return new CostMeter(supervisor, postgres, business, broker, counters, databases, null);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            return new CostMeter(supervisor, postgres, business, broker, counters, null, $"PostgreSQL's statistics could not be read before the load: {e.Message}");
        }
    }

    /// <summary>The cost per order, read once every service has stopped. It never fails the run: a figure it cannot read is left out, with why.</summary>
    public async Task<RunCost> StopAsync(int orders, CancellationToken ct)
    {
        var counters = _supervisor.Counters() - _counters;
        double Per(double total) => orders == 0 ? 0 : Math.Round(total / orders, 2);
        double? business = null, broker = null;
        var notMeasured = _notMeasured;
        if (_databases is { } before)
        {
            try
            {
                await using var admin = DbCounters.OpenAdmin(_postgres);
                if (!await DbCounters.WaitUntilDisconnectedAsync(admin, [.. _business, .. _broker ?? []], DisconnectPatience, ct))
                    notMeasured = $"connections to the run's databases were still open {DisconnectPatience.TotalSeconds:0} s after the services stopped, so their rows may not be counted yet";
                else if (await DbCounters.ServerStartedAsync(admin, ct) != before.ServerStarted)
                    notMeasured = "PostgreSQL restarted during the run, and its statistics with it";
                else
                {
                    business = Per((await DbCounters.ReadAsync(admin, _business, ct)).RowsWritten - before.Business.RowsWritten);
                    if (_broker is not null) broker = Per((await DbCounters.ReadAsync(admin, _broker, ct)).RowsWritten - before.Broker!.RowsWritten);
                }
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                notMeasured = $"PostgreSQL's statistics could not be read after the run: {e.Message}";
            }
        }
        return new RunCost(orders, Per(counters.MessagesPublished), Per(counters.MessagesConsumed), Per(counters.RequestsServed), business, broker, notMeasured);
    }
}
