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
/// The order service. For the order messages waiting together (a batch, as many as arrived while the last one was
/// applied), in ONE local transaction: each one's inbox row (dedupe), the new orders with their outcome (created, or
/// rejected for a refused customer), and a reply for each in its own outbox. Then <c>participant.after-commit</c>,
/// then the acks: a crash in between redelivers the messages, and the inbox turns each second delivery into a
/// no-op that only answers again.
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
        await amqp.ConsumeInBatchesAsync<long>(queues.Orders, maxBatch: 32, apply.ApplyAsync, apply.AfterCommitAsync, stopping,
            park: (delivery, poison, tries, ct) => ParkedMessages.ParkAsync(db, queues.Orders, delivery, poison, tries, ct));
    }

    private sealed class ApplyOrder(NpgsqlDataSource db, Relay relay, QueueNames queues, CustomerPolicy policy, Failpoints failpoints, bool noInboxDedupe)
    {
        /// <summary>
        /// The deliveries waiting together, in one transaction: each gets its inbox row or is found a duplicate, the
        /// new orders are applied, and each delivery gets its reply in the outbox. Returns each one's reply row.
        /// </summary>
        public async Task<IReadOnlyList<long>> ApplyAsync(IReadOnlyList<BasicDeliverEventArgs> deliveries, CancellationToken ct)
        {
            var orders = deliveries.Select(Read).ToArray();
            long[] replyRows;
            await using (var connection = await db.OpenConnectionAsync(ct))
            await using (var tx = await connection.BeginTransactionAsync(ct))
            {
                var first = noInboxDedupe
                    ? [.. orders.Select(_ => true)]
                    : await Inbox.ReceiveAsync(connection, tx, InboxConsumer, [.. orders.Select(o => o.MessageId)], ct);
                var decided = new Dictionary<string, Outcome>(StringComparer.Ordinal);
                var applications = new List<(PlaceOrder, Outcome)>();
                for (var i = 0; i < orders.Length; i++)
                {
                    if (!first[i]) continue;
                    var outcome = policy.Decide(orders[i].Order.CustomerId);
                    decided[orders[i].Order.OrderId] = outcome;
                    applications.Add((orders[i].Order, outcome));
                }
                await OrderBook.ApplyAsync(connection, tx, applications, ct);
                // Seen before: answered again, from what was recorded (or decided just now for a copy in this batch),
                // not by a new decision. The initiator republishes only while it has no answer, so a duplicate left
                // unanswered would keep it republishing forever.
                var recorded = await OrderBook.OutcomesOfAsync(connection, tx,
                    [.. orders.Select(o => o.Order.OrderId).Where(id => !decided.ContainsKey(id)).Distinct()], ct);
                replyRows = await Outbox.EnqueueAsync(connection, tx, [.. orders.Select(o =>
                    (Guid.NewGuid(), queues.Replies, Json.Serialize(new OrderReply(o.Order.OrderId,
                        decided.TryGetValue(o.Order.OrderId, out var outcome) ? outcome : recorded[o.Order.OrderId])), false))], ct);
                await tx.CommitAsync(ct);
            }
            return replyRows;
        }

        /// <summary>
        /// <c>participant.after-commit</c>, once per delivery, then its reply to the relay; the ack follows. A crash
        /// here redelivers every delivery not yet acked, and the inbox answers each again.
        /// </summary>
        public async Task AfterCommitAsync(BasicDeliverEventArgs delivery, long replyRow, CancellationToken ct)
        {
            await failpoints.HitAsync(AfterCommit, ct);
            relay.HandOff(replyRow);
        }

        private static (PlaceOrder Order, Guid MessageId) Read(BasicDeliverEventArgs delivery)
        {
            var order = ParkedMessages.ReadOrder(delivery);
            if (!Guid.TryParse(delivery.BasicProperties.MessageId, out var messageId))
                throw new PoisonMessageException("an order message without a uuid message id cannot be deduplicated", order.OrderId);
            return (order, messageId);
        }
    }
}
