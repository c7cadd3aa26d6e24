using Dtx.Shared.Business;
using Dtx.Shared.Failpoints;
using Dtx.Shared.Hosting;
using Dtx.Shared.Messaging;
using Dtx.Shared.Sql;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using RabbitMQ.Client.Events;

namespace Dtx.DualWrite;

/// <summary>
/// The inventory service as it is often first written. For <c>POST /orders</c>:
/// <list type="number">
/// <item>deduct the stock and commit (<c>initiator.before-commit</c>, commit, <c>initiator.after-commit</c>);</item>
/// <item>publish the order straight to RabbitMQ, without a confirm — a second write that is not part of the first.
///   A crash or a broker failure between the two, or a publish the broker drops, loses the order for good: the
///   stock stays deducted and the participant never hears of it;</item>
/// <item>the participant's reply marks the order done or restocks it (<c>initiator.after-reply</c>).</item>
/// </list>
/// No outbox, no confirms, no dedupe, no check-back: it exists so that every scenario shows what the reference
/// patterns protect against, and so that the checker is seen to fail.
/// </summary>
public sealed class Initiator : IServiceRole
{
    public const string BeforeCommit = StepRoles.InitiatorBeforeCommit;
    public const string AfterCommit = StepRoles.InitiatorAfterCommit;
    public const string AfterReply = StepRoles.InitiatorAfterReply;

    public IReadOnlyList<string> Failpoints { get; } = [BeforeCommit, AfterCommit, AfterReply];

    public void ConfigureServices(IServiceCollection services, ServiceOptions options)
    {
        services.AddSingleton(Database.Open(options.Database, "dual-write-initiator"));
        services.AddSingleton(QueueNames.For(options));
    }

    public void MapEndpoints(WebApplication app) => app.MapPost("/orders", PlaceOrderAsync);

    private FireAndForget? _publisher;

    public async Task StartAsync(IServiceProvider services, CancellationToken stopping)
    {
        var options = services.GetRequiredService<ServiceOptions>();
        var queues = services.GetRequiredService<QueueNames>();
        var log = services.GetRequiredService<ILogger<Initiator>>();
        var failpoints = services.GetRequiredService<Failpoints>();
        var db = services.GetRequiredService<NpgsqlDataSource>();

        await Database.ApplySchemaAsync(options.Database, stopping, Inventory.Schema);
        var amqp = await AmqpConnection.ConnectAsync(options.Amqp, "dual-write-initiator", log, TimeSpan.FromSeconds(60), stopping);
        await amqp.DeclareQueuesAsync(stopping, queues.Orders, queues.Replies);
        _publisher = new FireAndForget(amqp);
        await amqp.ConsumeAsync(queues.Replies, prefetch: 64, concurrency: 4,
            (delivery, ct) => ApplyReplyAsync(db, failpoints, delivery, ct), stopping);
    }

    private async Task<IResult> PlaceOrderAsync(PlaceOrder order, NpgsqlDataSource db, QueueNames queues, Failpoints failpoints,
        ILogger<Initiator> log, CancellationToken ct)
    {
        if (order.Validate() is { } problem) return Results.BadRequest(new { error = problem });

        await using (var connection = await db.OpenConnectionAsync(ct))
        await using (var tx = await connection.BeginTransactionAsync(ct))
        {
            switch (await Inventory.DeductAsync(connection, tx, order, ct))
            {
                case Inventory.Deduction.AlreadyPlaced:
                    return Results.Ok(new { orderId = order.OrderId, status = "already-placed" });
                case Inventory.Deduction.OutOfStock:
                    return Results.Conflict(new { error = $"not enough stock of {order.Sku}" });
                case Inventory.Deduction.UnknownSku:
                    return Results.UnprocessableEntity(new { error = $"unknown sku {order.Sku}" });
            }
            await failpoints.HitAsync(BeforeCommit, ct);
            await tx.CommitAsync(ct);
        }
        await failpoints.HitAsync(AfterCommit, ct);
        try
        {
            await _publisher!.PublishAsync(queues.Orders, Json.Serialize(order), ct);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            // The stock is gone and the message is not sent: the naive answer is an error to the client, whose
            // retry then finds the order "already placed" and is told it succeeded.
            log.LogWarning("publish of order {OrderId} failed after its commit: {Error}", order.OrderId, e.Message);
            return Results.Problem($"the order was recorded but could not be published: {e.Message}", statusCode: StatusCodes.Status503ServiceUnavailable);
        }
        return Results.Created($"/orders/{order.OrderId}", new { orderId = order.OrderId, status = "placed" });
    }

    private static async Task ApplyReplyAsync(NpgsqlDataSource db, Failpoints failpoints, BasicDeliverEventArgs delivery, CancellationToken ct)
    {
        var reply = Json.Deserialize<OrderReply>(delivery.Body.Span);
        await using (var connection = await db.OpenConnectionAsync(ct))
        await using (var tx = await connection.BeginTransactionAsync(ct))
        {
            await Inventory.ResolveAsync(connection, tx, reply, ct);
            await tx.CommitAsync(ct);
        }
        await failpoints.HitAsync(AfterReply, ct);
    }
}
