using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Dtx.HalfMessage;
using Dtx.Harness.Infrastructure;
using Dtx.LocalTable;
using Dtx.Shared.Business;
using Dtx.Shared.Messaging;
using Dtx.Shared.Sql;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

// dotnet run -c Release --project benchmarks/HotPathBenchmark [-- --filter '*Relay*']
// Each benchmark is one step of a protocol as its role runs it, from the same shared code, one at a time: what a
// step costs without the rest of the system, to compare with what bench measures end to end.
BenchmarkRunner.Run([typeof(Steps), typeof(RelayPass)], null, args);

/// <summary>Embedded PostgreSQL and RabbitMQ with every role's tables, started once per benchmark class.</summary>
public abstract class OnRealServers
{
    private string _scratch = null!;
    private PostgresServer _postgres = null!;
    private RabbitMqServer _rabbit = null!;
    protected NpgsqlDataSource _inventory = null!, _orders = null!, _txbroker = null!;
    protected AmqpConnection _amqp = null!;
    protected ConfirmingPublisher _publisher = null!;
    protected byte[] _orderBody = null!;
    protected System.Text.Json.JsonElement _payload;
    private long _next;
    protected const string Queue = "dtx.hotpath.orders";

    [GlobalSetup]
    public void Setup() => SetupAsync().GetAwaiter().GetResult();

    private async Task SetupAsync()
    {
        _scratch = Directory.CreateTempSubdirectory("dtx-hotpath-").FullName;
        _postgres = await PostgresServer.StartEmbeddedAsync(Path.Combine(_scratch, "pg"), Path.Combine(_scratch, "logs"));
        _rabbit = await RabbitMqServer.StartEmbeddedAsync(Path.Combine(_scratch, "mq"), Path.Combine(_scratch, "logs"));
        var inventory = await _postgres.CreateDatabaseAsync("dtx_hotpath_inventory");
        var orders = await _postgres.CreateDatabaseAsync("dtx_hotpath_orders");
        var txbroker = await _postgres.CreateDatabaseAsync("dtx_hotpath_txbroker");
        await Database.ApplySchemaAsync(inventory, default, Inventory.Schema, Outbox.Schema);
        await Database.ApplySchemaAsync(orders, default, OrderBook.Schema, Inbox.Schema, ParkedMessages.Schema, Outbox.Schema);
        await Database.ApplySchemaAsync(txbroker, default, TxBrokerStore.Schema);
        (_inventory, _orders, _txbroker) = (Database.Open(inventory, "hotpath"), Database.Open(orders, "hotpath"), Database.Open(txbroker, "hotpath"));
        await Database.ExecuteAsync(_inventory,
            $"INSERT INTO stock (sku, available) SELECT 'sku-' || lpad(i::text, 2, '0'), {long.MaxValue / 2} FROM generate_series(1, 64) AS i");
        _amqp = await AmqpConnection.ConnectAsync(_rabbit.AmqpUri, "hotpath", NullLogger.Instance, TimeSpan.FromSeconds(10), default);
        await _amqp.DeclareQueuesAsync(default, Queue);
        _publisher = await _amqp.CreatePublisherAsync(default);
        _orderBody = Json.Serialize(new PlaceOrder("ord-000000", "sku-01", 1, "cust-001"));
        _payload = System.Text.Json.JsonSerializer.SerializeToElement(new PlaceOrder("ord-000000", "sku-01", 1, "cust-001"));
    }

    [GlobalCleanup]
    public void Cleanup() => CleanupAsync().GetAwaiter().GetResult();

    private async Task CleanupAsync()
    {
        await _publisher.DisposeAsync();
        await _amqp.DisposeAsync();
        foreach (var db in new[] { _inventory, _orders, _txbroker }) await db.DisposeAsync();
        await _rabbit.DisposeAsync();
        await _postgres.DisposeAsync();
        Directory.Delete(_scratch, recursive: true);
    }

    protected long Next() => Interlocked.Increment(ref _next);

    protected PlaceOrder NextOrder()
    {
        var n = Next();
        return new PlaceOrder($"hp-{n}", $"sku-{n % 64 + 1:D2}", 1, "cust-001");
    }
}

/// <summary>One transaction of each role, one at a time.</summary>
[MemoryDiagnoser]
[Config(typeof(HotPathConfig))]
public class Steps : OnRealServers
{
    /// <summary>LocalTable's initiator: the order row, the stock deduction and the outbox row in one transaction.</summary>
    [Benchmark]
    public async Task OutboxInsertAndCommit()
    {
        await using var connection = await _inventory.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        await Inventory.DeductAsync(connection, tx, NextOrder(), default);
        await Outbox.EnqueueAsync(connection, tx, Guid.NewGuid(), Queue, _orderBody, awaitReply: true, default);
        await tx.CommitAsync();
    }

    /// <summary>The participant (both references): inbox row, business effect and reply row in one transaction.</summary>
    [Benchmark]
    public async Task InboxApply()
    {
        var order = NextOrder();
        await using var connection = await _orders.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        if (!await Inbox.TryReceiveAsync(connection, tx, "hotpath", Guid.NewGuid(), default)) throw new InvalidOperationException("a new message id was a duplicate");
        await OrderBook.ApplyAsync(connection, tx, order, Outcome.Created, default);
        await Outbox.EnqueueAsync(connection, tx, Guid.NewGuid(), Queue, _orderBody, awaitReply: false, default);
        await tx.CommitAsync();
    }

    /// <summary>txbroker's store: a half message prepared, then committed (set due for dispatch), without HTTP.</summary>
    [Benchmark]
    public async Task TxBrokerPrepareAndCommit()
    {
        var txId = $"hp-{Next()}";
        await TxBrokerStore.PrepareAsync(_txbroker, new PrepareRequest(txId, "hotpath", Queue, _payload, "http://127.0.0.1:1"), default);
        var resolution = await TxBrokerStore.ResolveAsync(_txbroker, txId, TxState.Committed, "producer", default);
        if (!resolution.ResolvedNow) throw new InvalidOperationException($"{txId} was not committed");
    }
}

/// <summary>LocalTable's relay, one pass per invocation, by the number of rows a pass claims.</summary>
[MemoryDiagnoser]
[Config(typeof(HotPathConfig))]
public class RelayPass : OnRealServers
{
    /// <summary>Outbox rows one pass claims (the relay claims up to HandOffAndPoll's batch size).</summary>
    [Params(1, 16, 64)]
    public int BatchSize { get; set; }

    /// <summary>
    /// LocalTable's relay, one pass: <see cref="BatchSize"/> rows committed, claimed by their ids (the hand-off), each
    /// published with confirms (concurrently, as the relay does) and then logged and marked, one statement each for the batch.
    /// </summary>
    [Benchmark]
    public async Task RelayClaimPublishMark()
    {
        var ids = new long[BatchSize];
        await using (var connection = await _inventory.OpenConnectionAsync())
        await using (var tx = await connection.BeginTransactionAsync())
        {
            for (var i = 0; i < BatchSize; i++) ids[i] = await Outbox.EnqueueAsync(connection, tx, Guid.NewGuid(), Queue, _orderBody, awaitReply: false, default);
            await tx.CommitAsync();
        }
        var claimed = await Outbox.ClaimAsync(_inventory, ids, BatchSize, TimeSpan.FromSeconds(30), default);
        await Task.WhenAll(claimed.Select(message =>
            _publisher.PublishAsync(message.Queue, message.MessageId.ToString(), System.Text.Encoding.UTF8.GetBytes(message.Body), default)));
        await Outbox.LogPublishedAsync(_inventory, claimed, default);
        await Outbox.MarkPublishedAsync(_inventory, claimed, TimeSpan.FromSeconds(30), default);
        if (claimed.Count != BatchSize) throw new InvalidOperationException($"claimed {claimed.Count} of {BatchSize}");
    }

}

/// <summary>Milliseconds an operation, against real servers: a few short iterations in this process are enough, and need no child build.</summary>
public sealed class HotPathConfig : ManualConfig
{
    public HotPathConfig() =>
        AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(2).WithIterationCount(5).WithIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(500))
            .WithToolchain(InProcessEmitToolchain.Instance));
}
