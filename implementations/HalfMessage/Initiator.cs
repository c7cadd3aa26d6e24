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

namespace Dtx.HalfMessage;

/// <summary>
/// The inventory service with transactional messages. Step by step, for <c>POST /orders</c>:
/// <list type="number">
/// <item>prepare: the half message goes to txbroker, durable there and invisible (<c>initiator.after-prepare</c>);</item>
/// <item>the local transaction: its <see cref="TransactionLog"/> row first, then the stock deduction
///   (<c>initiator.before-commit</c>, commit, <c>initiator.after-commit</c>);</item>
/// <item>commit (or rollback) to txbroker, which then dispatches the message. A lost commit is not the client's
///   problem: txbroker checks back (<see cref="CheckBack"/>) and the transaction log answers.</item>
/// </list>
/// The participant's reply comes back as a transactional message too; it marks the order done or compensates it.
/// </summary>
public sealed class Initiator : IServiceRole
{
    public const string AfterPrepare = StepRoles.InitiatorAfterPrepare;
    public const string BeforeCommit = StepRoles.InitiatorBeforeCommit;
    public const string AfterCommit = StepRoles.InitiatorAfterCommit;
    public const string AfterReply = StepRoles.InitiatorAfterReply;
    public const string ProducerGroup = "inventory";

    public IReadOnlyList<string> Failpoints { get; } = [AfterPrepare, BeforeCommit, AfterCommit, CheckBack.BeforeAnswer, AfterReply];

    public IReadOnlyList<string> Mutants { get; } =
        [MutantCatalog.IgnoreFence, MutantCatalog.RollbackSentAsCommit, MutantCatalog.CheckBackBlindCommit, MutantCatalog.CheckBackUnfencedRollback];

    // Safeguards a mutant run switches off (MutantCatalog.cs); false in every real run.
    private bool _ignoreFence, _rollbackSentAsCommit;

    public void ConfigureServices(IServiceCollection services, ServiceOptions options)
    {
        _ignoreFence = options.IsMutant(MutantCatalog.IgnoreFence);
        _rollbackSentAsCommit = options.IsMutant(MutantCatalog.RollbackSentAsCommit);
        services.AddSingleton(Database.Open(options.Database, "half-message-initiator"));
        services.AddSingleton(QueueNames.For(options));
        services.AddSingleton(new TxBrokerClient(options.HttpUrl("txbroker"), ProducerGroup, options.AdvertisedUrl));
    }

    public void MapEndpoints(WebApplication app)
    {
        app.MapPost("/orders", PlaceOrderAsync);
        CheckBack.Map(app);
    }

    public async Task StartAsync(IServiceProvider services, CancellationToken stopping)
    {
        var options = services.GetRequiredService<ServiceOptions>();
        var queues = services.GetRequiredService<QueueNames>();
        var db = services.GetRequiredService<NpgsqlDataSource>();
        var failpoints = services.GetRequiredService<Failpoints>();
        var log = services.GetRequiredService<ILogger<Initiator>>();

        await Database.ApplySchemaAsync(options.Database, stopping, Inventory.Schema, TransactionLog.Schema);
        var amqp = await AmqpConnection.ConnectAsync(options.Amqp, "half-message-initiator", log, TimeSpan.FromSeconds(60), stopping);
        await amqp.DeclareQueuesAsync(stopping, queues.Orders, queues.Replies);
        await amqp.ConsumeInBatchesAsync(queues.Replies, maxBatch: 32,
            (deliveries, ct) => ApplyRepliesAsync(db, deliveries, ct),
            // initiator.after-reply, once per reply, between the batch's commit and the reply's ack.
            (_, ct) => failpoints.HitAsync(AfterReply, ct).AsTask(), stopping);
    }

    private async Task<IResult> PlaceOrderAsync(PlaceOrder order, NpgsqlDataSource db, TxBrokerClient broker, QueueNames queues,
        Failpoints failpoints, ILogger<Initiator> log, CancellationToken ct)
    {
        if (order.Validate() is { } problem) return Results.BadRequest(new { error = problem });

        // A new transaction id per attempt: a client's retry of an order whose first attempt was rolled back must
        // not meet that attempt's fence. The order id is what makes the retry safe, in inventory_orders.
        var txId = $"tx-{Guid.NewGuid():N}";
        try
        {
            await broker.PrepareAsync(txId, queues.Orders, order, ct);
        }
        catch (Exception e) when (e is HttpRequestException or TxBrokerRefusedException or TaskCanceledException)
        {
            // Nothing happened here; if txbroker did store the half, its check-back will find no local
            // transaction, fence the id and roll the half back.
            log.LogWarning("prepare of {TxId} failed: {Error}", txId, e.Message);
            return Results.Problem($"txbroker unavailable: {e.Message}", statusCode: StatusCodes.Status503ServiceUnavailable);
        }
        await failpoints.HitAsync(AfterPrepare, ct);

        Inventory.Deduction deduction;
        await using (var connection = await db.OpenConnectionAsync(ct))
        await using (var tx = await connection.BeginTransactionAsync(ct))
        {
            // The transaction id's row and the deduction in one round trip; the row is taken or found fenced within
            // this transaction either way, before anything commits.
            (deduction, var took) = await Inventory.DeductAsync(connection, tx, order, TransactionLog.BeginCommand(txId, order.OrderId), ct);
            // The fence: a check-back that found nothing answered rollback, so this transaction must not commit.
            if (took is null && !_ignoreFence)
                return Results.Conflict(new { error = "the transaction was rolled back by check-back before it could commit" });
            if (deduction == Inventory.Deduction.Deducted)
            {
                await failpoints.HitAsync(BeforeCommit, ct);
                await tx.CommitAsync(ct);
            }
        }

        // From here on the local transaction has ended, and its resolution is sent even if the client has gone
        // (CancellationToken.None; the call has its own timeout): a resolution dropped because a client timed out
        // becomes a check-back later, and under overload those check-backs were the load that kept it overloaded.
        if (deduction != Inventory.Deduction.Deducted)
        {
            await broker.TryResolveAsync(txId, commit: _rollbackSentAsCommit, log, CancellationToken.None);
            return deduction switch
            {
                Inventory.Deduction.AlreadyPlaced => Results.Ok(new { orderId = order.OrderId, status = "already-placed" }),
                Inventory.Deduction.OutOfStock => Results.Conflict(new { error = $"not enough stock of {order.Sku}" }),
                _ => Results.UnprocessableEntity(new { error = $"unknown sku {order.Sku}" }),
            };
        }
        await failpoints.HitAsync(AfterCommit, CancellationToken.None); // a delay here must not be cut short by the client leaving either
        await broker.TryResolveAsync(txId, commit: true, log, CancellationToken.None);
        return Results.Created($"/orders/{order.OrderId}", new { orderId = order.OrderId, status = "placed" });
    }

    /// <summary>The replies waiting together, in one transaction.</summary>
    private static async Task ApplyRepliesAsync(NpgsqlDataSource db, IReadOnlyList<BasicDeliverEventArgs> deliveries, CancellationToken ct)
    {
        var replies = deliveries.Select(d => Json.Deserialize<OrderReply>(d.Body.Span)).ToArray();
        await using (var connection = await db.OpenConnectionAsync(ct))
        await using (var tx = await connection.BeginTransactionAsync(ct))
        {
            // A duplicate reply finds the order already resolved and changes nothing: no second restock.
            await Inventory.ResolveAsync(connection, tx, replies, ct);
            await tx.CommitAsync(ct);
        }
    }
}
