using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using Microsoft.Extensions.Logging;

namespace Dtx.Shared.Messaging;

/// <summary>
/// One AMQP connection per service process, with the client's automatic recovery on: after a broker restart the
/// connection, its channels and their consumers come back by themselves. What recovery cannot give back — a
/// publish in flight, an unacked delivery — the protocols handle: the relay republishes, the inbox dedupes.
/// </summary>
public sealed class AmqpConnection : IAsyncDisposable
{
    private readonly ILogger _log;

    private AmqpConnection(IConnection connection, ILogger log)
    {
        Connection = connection;
        _log = log;
    }

    public IConnection Connection { get; }

    /// <summary>Connects, retrying while the broker is down (it may be restarting too), for at most <paramref name="patience"/>.</summary>
    public static async Task<AmqpConnection> ConnectAsync(string uri, string clientName, ILogger log, TimeSpan patience, CancellationToken ct)
    {
        var factory = new ConnectionFactory
        {
            Uri = new Uri(uri),
            ClientProvidedName = clientName,
            AutomaticRecoveryEnabled = true,
            TopologyRecoveryEnabled = true,
            NetworkRecoveryInterval = TimeSpan.FromSeconds(1),
            RequestedHeartbeat = TimeSpan.FromSeconds(10),
        };
        var deadline = DateTime.UtcNow + patience;
        while (true)
        {
            try
            {
                return new AmqpConnection(await factory.CreateConnectionAsync(ct), log);
            }
            catch (Exception e) when (e is not OperationCanceledException && DateTime.UtcNow < deadline)
            {
                log.LogWarning("AMQP connect failed ({Error}); retrying", e.Message);
                await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
            }
        }
    }

    /// <summary>Durable, so that a broker restart keeps the queue and its persistent messages.</summary>
    public async Task DeclareQueuesAsync(CancellationToken ct, params string[] queues)
    {
        await using var channel = await Connection.CreateChannelAsync(cancellationToken: ct);
        foreach (var queue in queues)
            await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, cancellationToken: ct);
    }

    public async Task<ConfirmingPublisher> CreatePublisherAsync(CancellationToken ct) =>
        new(await Connection.CreateChannelAsync(ConfirmingPublisher.ChannelOptions, ct));

    /// <summary>
    /// Consumes with manual acks. The handler commits its own transaction; the delivery is acked only after
    /// it returns, so a crash between the two redelivers the message (at-least-once) and the handler's dedupe
    /// absorbs it. A handler that throws gets the message back after a pause, never dropped.
    /// </summary>
    public async Task ConsumeAsync(string queue, ushort prefetch, ushort concurrency,
        Func<BasicDeliverEventArgs, CancellationToken, Task> handle, CancellationToken stopping)
    {
        var channel = await Connection.CreateChannelAsync(new CreateChannelOptions(false, false, consumerDispatchConcurrency: concurrency), stopping);
        await channel.BasicQosAsync(0, prefetch, false, stopping);
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += async (_, delivery) =>
        {
            try
            {
                await handle(delivery, stopping);
                await channel.BasicAckAsync(delivery.DeliveryTag, false, stopping);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                _log.LogWarning("handling a message from {Queue} failed: {Error}; it goes back to the queue", queue, e.Message);
                await Task.Delay(200, CancellationToken.None);
                try
                {
                    await channel.BasicNackAsync(delivery.DeliveryTag, false, requeue: true, CancellationToken.None);
                }
                catch (Exception nackError)
                {
                    // The channel is gone (broker restart); the broker requeues unacked deliveries by itself.
                    _log.LogDebug("nack failed: {Error}", nackError.Message);
                }
            }
        };
        await channel.BasicConsumeAsync(queue, autoAck: false, consumer, stopping);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Connection.CloseAsync();
        }
        catch (Exception e)
        {
            _log.LogDebug("closing the AMQP connection: {Error}", e.Message);
        }
        Connection.Dispose();
    }
}
