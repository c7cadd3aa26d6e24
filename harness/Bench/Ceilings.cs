using Dtx.Harness.Implementations;
using Dtx.Harness.Infrastructure;
using Dtx.Harness.Load;
using Dtx.HalfMessage;
using Dtx.LocalTable;
using Dtx.Shared.Business;
using Dtx.Shared.Messaging;
using Dtx.Shared.Sql;
using Npgsql;
using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dtx.Harness.Bench;

/// <summary>What the servers alone can do, measured in the same run as the implementations, on the same servers.</summary>
/// <param name="RawSqlTransactionsPerSecond">The initiator's local transaction alone (order row, stock deduction, outbox row), as raw SQL over Npgsql.</param>
/// <param name="PublishConfirmedPerSecond">Persistent messages RabbitMQ confirmed, one publisher channel per worker.</param>
/// <param name="TxBrokerPrepareCommitPerSecond">txbroker's store alone: a half message prepared and committed (its two statements), without HTTP.</param>
/// <param name="PgbenchTransactionsPerSecond">The same local transaction run by pgbench (C, prepared statements), where pgbench is installed: what Npgsql's client side costs.</param>
public sealed record CeilingFigures(double RawSqlTransactionsPerSecond, double PublishConfirmedPerSecond, double TxBrokerPrepareCommitPerSecond,
    int Concurrency, double Seconds, double? PgbenchTransactionsPerSecond = null);

/// <summary>
/// The ceilings every implementation figure is divided by. Machines differ by a factor of two and more, so a figure
/// means something only as a ratio to what the same servers did, in the same run, with nothing of ours in between.
/// </summary>
public static class Ceilings
{
    public static async Task<CeilingFigures> MeasureAsync(PostgresServer postgres, RabbitMqServer rabbit, string tag, int concurrency, TimeSpan duration,
        Action<string> say, CancellationToken ct)
    {
        say($"ceiling: the initiator's local transaction as raw SQL, {concurrency} connections, {duration.TotalSeconds:0} s");
        var sql = await RawSqlAsync(postgres, tag, concurrency, duration, ct);
        say($"ceiling: {sql:N0} transactions/s");
        var pgbench = await PgbenchAsync(postgres, tag, concurrency, duration, say, ct);
        say($"ceiling: RabbitMQ publish with confirms, {concurrency} channels, {duration.TotalSeconds:0} s");
        var publish = await PublishConfirmedAsync(rabbit, tag, concurrency, duration, ct);
        say($"ceiling: {publish:N0} confirmed messages/s");
        say($"ceiling: txbroker's store, prepare + commit, {concurrency} connections, {duration.TotalSeconds:0} s");
        var txBroker = await TxBrokerPrepareCommitAsync(postgres, tag, concurrency, duration, ct);
        say($"ceiling: {txBroker:N0} half messages prepared and committed/s");
        return new CeilingFigures(Math.Round(sql, 1), Math.Round(publish, 1), Math.Round(txBroker, 1), concurrency, duration.TotalSeconds,
            pgbench is { } tps ? Math.Round(tps, 1) : null);
    }

    /// <summary>Runs <paramref name="once"/> in a loop on each of <paramref name="concurrency"/> workers for <paramref name="duration"/>; how many a second completed.</summary>
    private static async Task<double> PerSecondAsync(int concurrency, TimeSpan duration, Func<int, long, Task> once, CancellationToken ct)
    {
        long done = 0;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(worker => Task.Run(async () =>
        {
            for (long i = 0; watch.Elapsed < duration && !ct.IsCancellationRequested; i++)
            {
                await once(worker, i);
                Interlocked.Increment(ref done);
            }
        }, ct)));
        return done / watch.Elapsed.TotalSeconds;
    }

    /// <summary>A fresh database with the initiator's tables and 64 skus of stock that never runs out, dropped after <paramref name="use"/>.</summary>
    private static async Task<T> WithInitiatorTablesAsync<T>(PostgresServer postgres, string name, Func<NpgsqlDataSource, string, Task<T>> use, CancellationToken ct)
    {
        var connectionString = await postgres.CreateDatabaseAsync(name, ct);
        try
        {
            await Database.ApplySchemaAsync(connectionString, ct, Inventory.Schema, Outbox.Schema);
            await using var db = Database.Open(connectionString, "bench-ceiling");
            await Database.ExecuteAsync(db,
                $"INSERT INTO stock (sku, available) SELECT 'sku-' || lpad(i::text, 2, '0'), {long.MaxValue / 2} FROM generate_series(1, 64) AS i", ct);
            return await use(db, connectionString);
        }
        finally
        {
            await postgres.DropDatabaseAsync(name, CancellationToken.None);
        }
    }

    /// <summary>The very statements LocalTable's initiator runs per order (shared code), in a loop per connection.</summary>
    private static Task<double> RawSqlAsync(PostgresServer postgres, string tag, int concurrency, TimeSpan duration, CancellationToken ct) =>
        WithInitiatorTablesAsync(postgres, $"dtx_{tag}_ceiling", (db, _) =>
        {
            var body = Json.Serialize(new PlaceOrder("ord-000000", "sku-01", 1, "cust-001"));
            return PerSecondAsync(concurrency, duration, async (worker, i) =>
            {
                var order = new PlaceOrder($"ceiling-{worker}-{i}", OrderGenerator.Sku(Random.Shared.Next(64)), 1, "cust-001");
                await using var connection = await db.OpenConnectionAsync(ct);
                await using var tx = await connection.BeginTransactionAsync(ct);
                await Inventory.DeductAsync(connection, tx, order, ct);
                await Outbox.EnqueueAsync(connection, tx, Guid.NewGuid(), "ceiling", body, awaitReply: true, ct);
                await tx.CommitAsync(ct);
            }, ct);
        }, ct);

    /// <summary>
    /// The same transaction through pgbench, where it is installed: C and prepared statements, so the distance to
    /// <see cref="RawSqlAsync"/> is what the .NET client side costs. Null (and said) when pgbench is missing or fails.
    /// </summary>
    private static async Task<double?> PgbenchAsync(PostgresServer postgres, string tag, int concurrency, TimeSpan duration, Action<string> say,
        CancellationToken ct)
    {
        if (Binaries.Pgbench() is not { } pgbench)
        {
            say("ceiling: pgbench is not installed; the raw-SQL ceiling is Npgsql's only");
            return null;
        }
        say($"ceiling: the same transaction through pgbench, {concurrency} clients, {duration.TotalSeconds:0} s");
        var tps = await WithInitiatorTablesAsync(postgres, $"dtx_{tag}_pgbench", async (_, connectionString) =>
        {
            // The statements of Inventory.DeductAsync and Outbox.EnqueueAsync, with pgbench's variables for the values.
            var script = Path.Combine(Path.GetTempPath(), $"dtx-{tag}-pgbench.sql");
            var body = System.Text.Encoding.UTF8.GetString(Json.Serialize(new PlaceOrder("ord-000000", "sku-01", 1, "cust-001"))).Replace("'", "''");
            await File.WriteAllTextAsync(script, $"""
                \set s random(1, 64)
                BEGIN;
                INSERT INTO inventory_orders (order_id, sku, qty, customer_id) VALUES (gen_random_uuid()::text, 'sku-' || lpad(:s::text, 2, '0'), 1, 'cust-001') ON CONFLICT (order_id) DO NOTHING;
                UPDATE stock SET available = available - 1 WHERE sku = 'sku-' || lpad(:s::text, 2, '0') AND available >= 1 RETURNING available;
                INSERT INTO outbox (message_id, queue, body, await_reply) VALUES (gen_random_uuid(), 'ceiling', '{body}', true) RETURNING id;
                END;
                """, ct);
            try
            {
                var builder = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
                var start = new System.Diagnostics.ProcessStartInfo(pgbench)
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    Environment = { ["PGPASSWORD"] = builder.Password ?? "" },
                };
                foreach (var arg in new[]
                         {
                             "-n", "-M", "prepared", "-f", script, "-c", concurrency.ToString(CultureInfo.InvariantCulture),
                             "-j", Math.Min(concurrency, Environment.ProcessorCount).ToString(CultureInfo.InvariantCulture),
                             "-T", Math.Max(1, (int)duration.TotalSeconds).ToString(CultureInfo.InvariantCulture),
                             "-h", builder.Host!, "-p", builder.Port.ToString(CultureInfo.InvariantCulture), "-U", builder.Username!, builder.Database!,
                         })
                    start.ArgumentList.Add(arg);
                using var process = System.Diagnostics.Process.Start(start)!;
                var output = process.StandardOutput.ReadToEndAsync(ct);
                var errors = process.StandardError.ReadToEndAsync(ct);
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(duration + TimeSpan.FromSeconds(30));
                try
                {
                    await process.WaitForExitAsync(timeout.Token);
                }
                catch (OperationCanceledException)
                {
                    process.Kill(entireProcessTree: true); // bounded: it never outlives its measurement
                    throw;
                }
                var match = System.Text.RegularExpressions.Regex.Match(await output, @"tps = ([0-9.]+)");
                if (process.ExitCode == 0 && match.Success) return double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
                say($"ceiling: pgbench failed (exit {process.ExitCode}): {(await errors).Trim().Split('\n').LastOrDefault()}");
                return (double?)null;
            }
            finally
            {
                File.Delete(script);
            }
        }, ct);
        if (tps is { } measured) say($"ceiling: {measured:N0} transactions/s through pgbench");
        return tps;
    }

    /// <summary>What the relays do per message, without the relay: a confirmed, persistent, mandatory publish.</summary>
    private static async Task<double> PublishConfirmedAsync(RabbitMqServer rabbit, string tag, int concurrency, TimeSpan duration, CancellationToken ct)
    {
        var queue = $"dtx.{tag}.ceiling";
        await using var amqp = await AmqpConnection.ConnectAsync(rabbit.AmqpUri, "bench-ceiling", NullLogger.Instance, TimeSpan.FromSeconds(10), ct);
        await amqp.DeclareQueuesAsync(ct, queue);
        try
        {
            var body = Json.Serialize(new PlaceOrder("ord-000000", "sku-01", 1, "cust-001"));
            var publishers = new ConfirmingPublisher[concurrency];
            for (var worker = 0; worker < concurrency; worker++) publishers[worker] = await amqp.CreatePublisherAsync(ct);
            try
            {
                return await PerSecondAsync(concurrency, duration, (worker, _) => publishers[worker].PublishAsync(queue, Guid.NewGuid().ToString(), body, ct), ct);
            }
            finally
            {
                foreach (var publisher in publishers) await publisher.DisposeAsync();
            }
        }
        finally
        {
            await BrokerQueues.DeleteAsync(rabbit.AmqpUri, CancellationToken.None, queue);
        }
    }

    /// <summary>What txbroker's HTTP handlers do per half message, without HTTP: <see cref="TxBrokerStore"/>'s prepare, then its commit.</summary>
    private static async Task<double> TxBrokerPrepareCommitAsync(PostgresServer postgres, string tag, int concurrency, TimeSpan duration, CancellationToken ct)
    {
        var name = $"dtx_{tag}_ceiling_txbroker";
        var connectionString = await postgres.CreateDatabaseAsync(name, ct);
        try
        {
            await Database.ApplySchemaAsync(connectionString, ct, TxBrokerStore.Schema);
            await using var db = Database.Open(connectionString, "bench-ceiling");
            var payload = System.Text.Json.JsonSerializer.SerializeToElement(new PlaceOrder("ord-000000", "sku-01", 1, "cust-001"));
            return await PerSecondAsync(concurrency, duration, async (worker, i) =>
            {
                var txId = $"ceiling-{worker}-{i}";
                await TxBrokerStore.PrepareAsync(db, new PrepareRequest(txId, "ceiling", "ceiling", payload, "http://127.0.0.1:1"), ct);
                await TxBrokerStore.ResolveAsync(db, txId, TxState.Committed, "producer", ct);
            }, ct);
        }
        finally
        {
            await postgres.DropDatabaseAsync(name, CancellationToken.None);
        }
    }
}
