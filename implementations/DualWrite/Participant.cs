using Dtx.Shared.Business;
using Dtx.Shared.Failpoints;
using Dtx.Shared.Hosting;
using Dtx.Shared.Messaging;
using Dtx.Shared.Sql;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using RabbitMQ.Client.Events;

namespace Dtx.DualWrite;

/// <summary>
/// The order service as it is often first written: apply the order and commit (<c>participant.after-commit</c>),
/// publish the reply without a confirm, then ack. There is no inbox, so a delivery that comes back after a crash
/// before the ack is applied a second time; a reply lost on the way leaves the initiator's order pending forever.
/// </summary>
public sealed class Participant : IServiceRole
{
    public const string AfterCommit = StepRoles.ParticipantAfterCommit;

    public IReadOnlyList<string> Failpoints { get; } = [AfterCommit];

    public void ConfigureServices(IServiceCollection services, ServiceOptions options)
    {
        services.AddSingleton(Database.Open(options.Database, "dual-write-participant"));
        services.AddSingleton(QueueNames.For(options));
        services.AddSingleton(new CustomerPolicy(options.RefuseShare));
    }

    public void MapEndpoints(WebApplication app)
    {
    }

    public async Task StartAsync(IServiceProvider services, CancellationToken stopping)
    {
        var options = services.GetRequiredService<ServiceOptions>();
        var queues = services.GetRequiredService<QueueNames>();
        var log = services.GetRequiredService<ILogger<Participant>>();
        var db = services.GetRequiredService<NpgsqlDataSource>();

        // The inbox table exists only so that the harness's probes read the same schema as for the references; it
        // is never written.
        await Database.ApplySchemaAsync(options.Database, stopping, OrderBook.Schema, Inbox.Schema, ParkedMessages.Schema);
        var amqp = await AmqpConnection.ConnectAsync(options.Amqp, "dual-write-participant", log, TimeSpan.FromSeconds(60), stopping);
        await amqp.DeclareQueuesAsync(stopping, queues.Orders, queues.Replies);
        var apply = new ApplyOrder(db, new FireAndForget(amqp), queues, services.GetRequiredService<CustomerPolicy>(),
            services.GetRequiredService<Failpoints>());
        await amqp.ConsumeAsync(queues.Orders, prefetch: 64, concurrency: 4, apply.HandleAsync, stopping,
            park: (delivery, poison, tries, ct) => ParkedMessages.ParkAsync(db, queues.Orders, delivery, poison, tries, ct));
    }

    private sealed class ApplyOrder(NpgsqlDataSource db, FireAndForget publisher, QueueNames queues, CustomerPolicy policy, Failpoints failpoints)
    {
        public async Task HandleAsync(BasicDeliverEventArgs delivery, CancellationToken ct)
        {
            var order = ParkedMessages.ReadOrder(delivery);
            var outcome = policy.Decide(order.CustomerId);
            await using (var connection = await db.OpenConnectionAsync(ct))
            await using (var tx = await connection.BeginTransactionAsync(ct))
            {
                await OrderBook.ApplyAsync(connection, tx, order, outcome, ct);
                await tx.CommitAsync(ct);
            }
            await failpoints.HitAsync(AfterCommit, ct);
            await publisher.PublishAsync(queues.Replies, Json.Serialize(new OrderReply(order.OrderId, outcome)), ct);
        }
    }
}
