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

namespace Dtx.HalfMessage;

/// <summary>
/// The order service. It applies a dispatched order exactly as LocalTable's participant does (inbox and business
/// effect in one transaction, shared code), and answers with a transactional message of its own: prepare the reply
/// at txbroker, commit the local transaction with its <see cref="TransactionLog"/> row, then commit the reply
/// (<c>participant.after-commit</c> sits between the local commit and the reply's commit and ack).
/// </summary>
public sealed class Participant : IServiceRole
{
    public const string AfterCommit = StepRoles.ParticipantAfterCommit;
    public const string ProducerGroup = "orders";
    private const string InboxConsumer = "orders";

    public IReadOnlyList<string> Failpoints { get; } = [AfterCommit, CheckBack.BeforeAnswer];

    // It answers check-backs for its replies with the same CheckBack code.
    public IReadOnlyList<string> Mutants { get; } = [MutantCatalog.CheckBackBlindCommit, MutantCatalog.CheckBackUnfencedRollback];

    public void ConfigureServices(IServiceCollection services, ServiceOptions options)
    {
        services.AddSingleton(Database.Open(options.Database, "half-message-participant"));
        services.AddSingleton(QueueNames.For(options));
        services.AddSingleton(new CustomerPolicy(options.RefuseShare));
        services.AddSingleton(new TxBrokerClient(options.HttpUrl("txbroker"), ProducerGroup, options.AdvertisedUrl));
    }

    public void MapEndpoints(WebApplication app) => CheckBack.Map(app);

    public async Task StartAsync(IServiceProvider services, CancellationToken stopping)
    {
        var options = services.GetRequiredService<ServiceOptions>();
        var queues = services.GetRequiredService<QueueNames>();
        var log = services.GetRequiredService<ILogger<Participant>>();

        await Database.ApplySchemaAsync(options.Database, stopping, OrderBook.Schema, Inbox.Schema, ParkedMessages.Schema, TransactionLog.Schema);
        var amqp = await AmqpConnection.ConnectAsync(options.Amqp, "half-message-participant", log, TimeSpan.FromSeconds(60), stopping);
        await amqp.DeclareQueuesAsync(stopping, queues.Orders, queues.Replies);
        var apply = new ApplyOrder(services.GetRequiredService<NpgsqlDataSource>(), services.GetRequiredService<TxBrokerClient>(), queues,
            services.GetRequiredService<CustomerPolicy>(), services.GetRequiredService<Failpoints>(), log);
        var db = services.GetRequiredService<NpgsqlDataSource>();
        // Sixteen at a time, not four: a delivery spends most of its time waiting on txbroker's two HTTP calls, and
        // with four in flight the participant could not apply more than about 200 orders/s.
        await amqp.ConsumeAsync(queues.Orders, prefetch: 64, concurrency: 16, apply.HandleAsync, stopping,
            park: (delivery, poison, tries, ct) => ParkedMessages.ParkAsync(db, queues.Orders, delivery, poison, tries, ct));
    }

    private sealed class ApplyOrder(NpgsqlDataSource db, TxBrokerClient broker, QueueNames queues, CustomerPolicy policy, Failpoints failpoints, ILogger log)
    {
        public async Task HandleAsync(BasicDeliverEventArgs delivery, CancellationToken ct)
        {
            var order = ParkedMessages.ReadOrder(delivery);
            // txbroker dispatches with the transaction id as the message id: the same for every redelivery and redispatch.
            var messageId = delivery.BasicProperties.MessageId
                ?? throw new PoisonMessageException("a dispatched order without a message id cannot be deduplicated", order.OrderId);
            var outcome = policy.Decide(order.CustomerId);
            var replyTx = $"reply-{Guid.NewGuid():N}";
            // Throws when txbroker is unreachable: the delivery goes back to the queue and is tried again later.
            await broker.PrepareAsync(replyTx, queues.Replies, new OrderReply(order.OrderId, outcome), ct);

            bool applied;
            await using (var connection = await db.OpenConnectionAsync(ct))
            await using (var tx = await connection.BeginTransactionAsync(ct))
            {
                if (!await TransactionLog.BeginAsync(connection, tx, replyTx, order.OrderId, ct))
                    throw new InvalidOperationException($"reply {replyTx} was fenced by check-back before its transaction ran; the delivery will be retried");
                applied = await Inbox.TryReceiveAsync(connection, tx, InboxConsumer, InboxKey(messageId), ct);
                if (applied) await OrderBook.ApplyAsync(connection, tx, order, outcome, ct);
                // A duplicate: the first delivery's reply is on its way already (txbroker guarantees it), so this
                // attempt's reply is withdrawn — recorded here, in the same transaction as the duplicate count.
                else await TransactionLog.MarkRolledBackAsync(connection, tx, replyTx, ct);
                await tx.CommitAsync(ct);
            }
            await failpoints.HitAsync(AfterCommit, ct);
            await broker.TryResolveAsync(replyTx, commit: applied, log, ct);
        }

        /// <summary>The inbox keys on a uuid; a transaction id is any string, so it is hashed into one, stably.</summary>
        private static Guid InboxKey(string messageId) =>
            Guid.TryParse(messageId, out var id) ? id : new Guid(System.Security.Cryptography.MD5.HashData(System.Text.Encoding.UTF8.GetBytes(messageId)));
    }
}
