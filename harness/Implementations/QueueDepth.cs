using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Dtx.Harness.Implementations;

/// <summary>How many messages wait in the given queues, read with a passive declare (no management plugin needed).</summary>
public static class QueueDepth
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

    public static async Task DeleteAsync(string amqp, CancellationToken ct, params string[] queues)
    {
        await using var connection = await new ConnectionFactory { Uri = new Uri(amqp), ClientProvidedName = "harness-cleanup" }.CreateConnectionAsync(ct);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: ct);
        foreach (var queue in queues) await channel.QueueDeleteAsync(queue, cancellationToken: ct);
    }
}
