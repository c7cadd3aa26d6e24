using Dtx.Shared.Business;
using Dtx.Shared.Failpoints;
using Dtx.Shared.Hosting;
using Dtx.Shared.Messaging;
using Dtx.Shared.Mutants;
using Dtx.Shared.Sql;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using RabbitMQ.Client.Events;

namespace Dtx.LocalTable;

/// <summary>
/// The order service. For each order message, in ONE local transaction: the inbox row (dedupe), the order
/// with its outcome (created, or rejected for a refused customer), and the reply in its own outbox. Then
/// <c>participant.after-commit</c>, then the ack: a crash in between redelivers the message, and the inbox
/// turns the second delivery into a no-op that only answers again.
/// </summary>
public sealed class Participant : IServiceRole
{
    public const string AfterCommit = StepRoles.ParticipantAfterCommit;
    private const string InboxConsumer = "orders";

    public IReadOnlyList<string> Failpoints { get; } = [AfterCommit, Relay.AfterPublish];

    // Its reply relay is the same Relay code, so the relay's mutants run here too.
    public IReadOnlyList<string> Mutants { get; } = [MutantCatalog.NoInboxDedupe, MutantCatalog.MarkBeforeConfirm];

    public void ConfigureServices(IServiceCollection services, ServiceOptions options)
    {
        services.AddSingleton(Database.Open(options.Database, "local-table-participant"));
        services.AddSingleton(QueueNames.For(options));
        services.AddSingleton(new CustomerPolicy(options.RefuseShare));
        services.AddSingleton<Relay>();
    }

    public void MapEndpoints(WebApplication app)
    {
    }

    public async Task StartAsync(IServiceProvider services, CancellationToken stopping)
    {
        var options = services.GetRequiredService<ServiceOptions>();
        var queues = services.GetRequiredService<QueueNames>();
        var log = services.GetRequiredService<ILogger<Participant>>();
        var relay = services.GetRequiredService<Relay>();

        await Database.ApplySchemaAsync(options.Database, stopping, OrderBook.Schema, Inbox.Schema, ParkedMessages.Schema, Outbox.Schema);
        var amqp = await AmqpConnection.ConnectAsync(options.Amqp, "local-table-participant", log, TimeSpan.FromSeconds(60), stopping);
        await amqp.DeclareQueuesAsync(stopping, queues.Orders, queues.Replies);
        await relay.StartAsync(amqp, stopping);
        var apply = new ApplyOrder(services.GetRequiredService<NpgsqlDataSource>(), relay, queues,
            services.GetRequiredService<CustomerPolicy>(), services.GetRequiredService<Failpoints>(), options.IsMutant(MutantCatalog.NoInboxDedupe));
        var db = services.GetRequiredService<NpgsqlDataSource>();
        await amqp.ConsumeAsync(queues.Orders, prefetch: 64, concurrency: 4, apply.HandleAsync, stopping,
            park: (delivery, poison, tries, ct) => ParkedMessages.ParkAsync(db, queues.Orders, delivery, poison, tries, ct));
    }

    private sealed class ApplyOrder(NpgsqlDataSource db, Relay relay, QueueNames queues, CustomerPolicy policy, Failpoints failpoints, bool noInboxDedupe)
    {
        public async Task HandleAsync(BasicDeliverEventArgs delivery, CancellationToken ct)
        {
            var order = ParkedMessages.ReadOrder(delivery);
            if (!Guid.TryParse(delivery.BasicProperties.MessageId, out var messageId))
                throw new PoisonMessageException("an order message without a uuid message id cannot be deduplicated", order.OrderId);

            long replyRow;
            await using (var connection = await db.OpenConnectionAsync(ct))
            await using (var tx = await connection.BeginTransactionAsync(ct))
            {
                Outcome outcome;
                if (noInboxDedupe || await Inbox.TryReceiveAsync(connection, tx, InboxConsumer, messageId, ct))
                {
                    outcome = policy.Decide(order.CustomerId);
                    await OrderBook.ApplyAsync(connection, tx, order, outcome, ct);
                }
                else
                {
                    // Seen before. The initiator republishes only while it has no answer, so answer again (from what
                    // was recorded, not a new decision) rather than stay silent and leave it republishing forever.
                    outcome = await OrderBook.OutcomeOfAsync(connection, tx, order.OrderId, ct);
                }
                replyRow = await Outbox.EnqueueAsync(connection, tx, Guid.NewGuid(), queues.Replies,
                    Json.Serialize(new OrderReply(order.OrderId, outcome)), awaitReply: false, ct);
                await tx.CommitAsync(ct);
            }
            await failpoints.HitAsync(AfterCommit, ct);
            relay.HandOff(replyRow);
        }
    }
}
