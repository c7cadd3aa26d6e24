using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Dtx.Harness.Implementations;

/// <summary>
/// What the harness does to an implementation's queues from outside: counts what waits in them (a passive declare,
/// no management plugin needed), loses or poisons messages for a fault, and deletes them on external servers.
/// </summary>
public static class BrokerQueues
{
    public static async Task<long> CountAsync(string amqp, CancellationToken ct, params string[] queues)
    {
        await using var connection = await new ConnectionFactory { Uri = new Uri(amqp), ClientProvidedName = "harness-probe" }.CreateConnectionAsync(ct);
        long total = 0;
        foreach (var queue in queues)
        {
            // A passive declare of a missing queue closes the channel, so each queue gets its own.
            await using var channel = await connection.CreateChannelAsync(cancellationToken: ct);
            try
            {
                total += (await channel.QueueDeclarePassiveAsync(queue, ct)).MessageCount;
            }
            catch (OperationInterruptedException)
            {
                // Not declared yet: nothing has been sent to it.
            }
        }
        return total;
    }

    /// <summary>
    /// Drops every ready message of the queue and returns how many there were: messages RabbitMQ had confirmed, lost
    /// as a wiped disk or an operator's mistake would lose them. Deliveries a consumer holds unacked are not touched.
    /// </summary>
    public static async Task<uint> PurgeAsync(string amqp, string queue, CancellationToken ct)
    {
        await using var connection = await new ConnectionFactory { Uri = new Uri(amqp), ClientProvidedName = "harness-nemesis" }.CreateConnectionAsync(ct);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: ct);
        return await channel.QueuePurgeAsync(queue, ct);
    }

    /// <summary>Publishes one message with a publisher confirm, as a producer would; returns once RabbitMQ has it.</summary>
    public static async Task PublishConfirmedAsync(string amqp, string queue, string messageId, byte[] body, CancellationToken ct)
    {
        await using var connection = await new ConnectionFactory { Uri = new Uri(amqp), ClientProvidedName = "harness-nemesis" }.CreateConnectionAsync(ct);
        await using var publisher = new Shared.Messaging.ConfirmingPublisher(await connection.CreateChannelAsync(Shared.Messaging.ConfirmingPublisher.NewChannelOptions(), ct));
        await publisher.PublishAsync(queue, messageId, body, ct);
    }

    public static async Task DeleteAsync(string amqp, CancellationToken ct, params string[] queues)
    {
        await using var connection = await new ConnectionFactory { Uri = new Uri(amqp), ClientProvidedName = "harness-cleanup" }.CreateConnectionAsync(ct);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: ct);
        foreach (var queue in queues) await channel.QueueDeleteAsync(queue, cancellationToken: ct);
    }
}
