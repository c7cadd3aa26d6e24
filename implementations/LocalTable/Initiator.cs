using Dtx.Shared.Business;
using Dtx.Shared.Failpoints;
using Dtx.Shared.Hosting;
using Dtx.Shared.Messaging;
using Dtx.Shared.Mutants;
using Dtx.Shared.Sql;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using RabbitMQ.Client.Events;

namespace Dtx.LocalTable;

/// <summary>
/// The inventory service. Step by step:
/// <list type="number">
/// <item><c>POST /orders</c>: deduct stock and write the order message to the outbox in ONE local transaction
///   (<c>initiator.before-commit</c>, commit, <c>initiator.after-commit</c>), then hand the row to the relay;</item>
/// <item>the <see cref="Relay"/> publishes it (<c>relay.after-publish</c>) and republishes while no reply comes;</item>
/// <item>the participant's reply marks the order done, or compensates it by restocking, and completes the
///   outbox row, again in one transaction (<c>initiator.after-reply</c> sits between that commit and the ack).</item>
/// </list>
/// </summary>
public sealed class Initiator : IServiceRole
{
    public const string BeforeCommit = StepRoles.InitiatorBeforeCommit;
    public const string AfterCommit = StepRoles.InitiatorAfterCommit;
    public const string AfterReply = StepRoles.InitiatorAfterReply;

    public IReadOnlyList<string> Failpoints { get; } = [BeforeCommit, AfterCommit, Relay.AfterPublish, AfterReply];

    // The relay runs in this process, so its mutants do too.
    public IReadOnlyList<string> Mutants { get; } =
        [MutantCatalog.OutboxAfterCommit, MutantCatalog.CompensateWithoutCas, MutantCatalog.MarkBeforeConfirm, MutantCatalog.NoRepublish];

    // Safeguards a mutant run switches off (MutantCatalog.cs); false in every real run.
    private bool _outboxAfterCommit, _compensateWithoutCas;

    public void ConfigureServices(IServiceCollection services, ServiceOptions options)
    {
        _outboxAfterCommit = options.IsMutant(MutantCatalog.OutboxAfterCommit);
        _compensateWithoutCas = options.IsMutant(MutantCatalog.CompensateWithoutCas);
        services.AddSingleton(Database.Open(options.Database, "local-table-initiator"));
        services.AddSingleton(QueueNames.For(options));
        services.AddSingleton<Relay>();
    }

    public void MapEndpoints(WebApplication app) => app.MapPost("/orders", PlaceOrderAsync);

    public async Task StartAsync(IServiceProvider services, CancellationToken stopping)
    {
        var options = services.GetRequiredService<ServiceOptions>();
        var queues = services.GetRequiredService<QueueNames>();
        var log = services.GetRequiredService<ILogger<Initiator>>();
        var failpoints = services.GetRequiredService<Failpoints>();
        var db = services.GetRequiredService<NpgsqlDataSource>();

        await Database.ApplySchemaAsync(options.Database, stopping, Inventory.Schema, Outbox.Schema);
        var amqp = await AmqpConnection.ConnectAsync(options.Amqp, "local-table-initiator", log, TimeSpan.FromSeconds(60), stopping);
        await amqp.DeclareQueuesAsync(stopping, queues.Orders, queues.Replies);
        await services.GetRequiredService<Relay>().StartAsync(amqp, stopping);
        await amqp.ConsumeInBatchesAsync(queues.Replies, maxBatch: 32,
            (deliveries, ct) => ApplyRepliesAsync(db, deliveries, ct),
            // initiator.after-reply, once per reply, between the batch's commit and the reply's ack.
            (_, ct) => failpoints.HitAsync(AfterReply, ct).AsTask(), stopping);
    }

    private async Task<IResult> PlaceOrderAsync(PlaceOrder order, NpgsqlDataSource db, Relay relay, QueueNames queues, Failpoints failpoints, CancellationToken ct)
    {
        if (order.Validate() is { } problem) return Results.BadRequest(new { error = problem });

        await using var connection = await db.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        // The message row in the SAME transaction as the deduction: both commit, or neither does. One round trip for
        // the order, the deduction and the message.
        var message = _outboxAfterCommit ? null
            : Outbox.EnqueueCommand(MessageIds.ForOrder(order.OrderId), queues.Orders, Json.Serialize(order), awaitReply: true);
        var (deduction, returnedId) = await Inventory.DeductAsync(connection, tx, order, message, ct);
        switch (deduction)
        {
            case Inventory.Deduction.AlreadyPlaced:
                return Results.Ok(new { orderId = order.OrderId, status = "already-placed" });
            case Inventory.Deduction.OutOfStock:
                return Results.Conflict(new { error = $"not enough stock of {order.Sku}" });
            case Inventory.Deduction.UnknownSku:
                return Results.UnprocessableEntity(new { error = $"unknown sku {order.Sku}" });
        }
        // A new order whose message id is taken would commit its deduction without a message: refused, rolled back.
        var outboxId = _outboxAfterCommit ? 0
            : returnedId as long? ?? throw new InvalidOperationException($"order {order.OrderId}: its message id is already in the outbox");
        await failpoints.HitAsync(BeforeCommit, ct);
        await tx.CommitAsync(ct);
        await failpoints.HitAsync(AfterCommit, ct);
        if (_outboxAfterCommit) outboxId = await EnqueueAfterCommitAsync(connection, order, queues, ct);
        relay.HandOff(outboxId);
        return Results.Created($"/orders/{order.OrderId}", new { orderId = order.OrderId, status = "placed" });
    }

    /// <summary>Mutant outbox-after-commit: the message row in a transaction of its own — a crash before it loses the order.</summary>
    private static async Task<long> EnqueueAfterCommitAsync(NpgsqlConnection connection, PlaceOrder order, QueueNames queues, CancellationToken ct)
    {
        await using var tx = await connection.BeginTransactionAsync(ct);
        var id = await Outbox.EnqueueAsync(connection, tx, MessageIds.ForOrder(order.OrderId), queues.Orders, Json.Serialize(order), awaitReply: true, ct);
        await tx.CommitAsync(ct);
        return id;
    }

    /// <summary>
    /// The replies waiting together, in one transaction: each order resolved once (done, or compensated by
    /// restocking) and its outbox row completed.
    /// </summary>
    private async Task ApplyRepliesAsync(NpgsqlDataSource db, IReadOnlyList<BasicDeliverEventArgs> deliveries, CancellationToken ct)
    {
        var replies = deliveries.Select(d => Json.Deserialize<OrderReply>(d.Body.Span)).ToArray();
        await using (var connection = await db.OpenConnectionAsync(ct))
        await using (var tx = await connection.BeginTransactionAsync(ct))
        {
            // A duplicate reply finds the order already resolved and changes nothing: no second restock.
            var resolved = await Inventory.ResolveAsync(connection, tx, replies, ct, compareAndSet: !_compensateWithoutCas);
            await Outbox.CompleteAsync(connection, tx, [.. resolved.Select(MessageIds.ForOrder)], ct);
            await tx.CommitAsync(ct);
        }
    }
}
