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

    /// <summary>How often client and broker check each other: a connection silent for two of these is closed, and its unacked deliveries requeued.</summary>
    public static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(10);

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
            RequestedHeartbeat = Heartbeat,
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
        new(await Connection.CreateChannelAsync(ConfirmingPublisher.NewChannelOptions(), ct));

    /// <summary>How often a poison delivery is tried before it is parked, and the first back-off (doubled each time).</summary>
    public const int PoisonAttempts = 5;
    private static readonly TimeSpan PoisonBackoff = TimeSpan.FromMilliseconds(200);
    // Capped: the count keeps growing while parking fails (the database is down), and an uncapped back-off would hold
    // the delivery and a consumer slot past any drain deadline.
    private static readonly TimeSpan MaxPoisonBackoff = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Consumes with manual acks: a delivery is acked only after <paramref name="handle"/> returned (its effects are
    /// committed), and put back for another try when it threw. A <see cref="PoisonMessageException"/> is tried
    /// <see cref="PoisonAttempts"/> times with a growing back-off, then handed to <paramref name="park"/> and acked,
    /// so a message that can never be applied neither circulates forever nor holds back the ones behind it. Any
    /// other failure (a database or txbroker that is down) may pass, and is retried for as long as it takes.
    /// </summary>
    public async Task ConsumeAsync(string queue, ushort prefetch, ushort concurrency,
        Func<BasicDeliverEventArgs, CancellationToken, Task> handle, CancellationToken stopping,
        Func<BasicDeliverEventArgs, PoisonMessageException, PoisonTries, CancellationToken, Task>? park = null)
    {
        var channel = await Connection.CreateChannelAsync(new CreateChannelOptions(false, false, consumerDispatchConcurrency: concurrency), stopping);
        await channel.BasicQosAsync(0, prefetch, false, stopping);
        // Tries per poison message, in this process: a restart starts counting again, which only delays the parking.
        var poisonTries = new System.Collections.Concurrent.ConcurrentDictionary<string, PoisonTries>();
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += async (_, delivery) =>
        {
            try
            {
                await handle(delivery, stopping);
                await channel.BasicAckAsync(delivery.DeliveryTag, false, stopping);
                Hosting.ServiceCounters.MessageConsumed();
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
            }
            catch (PoisonMessageException poison) when (park is not null)
            {
                var key = delivery.BasicProperties.MessageId ?? Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(delivery.Body.Span));
                var tries = poisonTries.AddOrUpdate(key, _ => new PoisonTries(1, DateTimeOffset.UtcNow), (_, t) => t with { Attempts = t.Attempts + 1 });
                var attempt = tries.Attempts;
                if (attempt >= PoisonAttempts && await TryParkAsync(park, delivery, poison, tries, stopping))
                {
                    poisonTries.TryRemove(key, out PoisonTries? _);
                    _log.LogWarning("parked message {MessageId} from {Queue} after {Attempts} attempts: {Reason}", key, queue, attempt, poison.Message);
                    await AckOrLeaveAsync(channel, delivery);
                    return;
                }
                _log.LogWarning("message {MessageId} from {Queue} cannot be applied ({Reason}); attempt {Attempt} of {Max}", key, queue, poison.Message, attempt, PoisonAttempts);
                await NackAsync(channel, delivery, TimeSpan.FromTicks(Math.Min(MaxPoisonBackoff.Ticks, (PoisonBackoff * Math.Pow(2, Math.Min(attempt - 1, 10))).Ticks)));
            }
            catch (Exception e)
            {
                _log.LogWarning("handling a message from {Queue} failed: {Error}; it goes back to the queue", queue, e.Message);
                await NackAsync(channel, delivery, RetryDelay);
            }
        };
        await channel.BasicConsumeAsync(queue, autoAck: false, consumer, stopping);
    }

    private async Task<bool> TryParkAsync(Func<BasicDeliverEventArgs, PoisonMessageException, PoisonTries, CancellationToken, Task> park,
        BasicDeliverEventArgs delivery, PoisonMessageException poison, PoisonTries tries, CancellationToken stopping)
    {
        try
        {
            await park(delivery, poison, tries, stopping);
            return true;
        }
        catch (Exception e) when (!stopping.IsCancellationRequested)
        {
            // The park table is out of reach (the database is down): keep the message in the queue and try later.
            _log.LogWarning("parking failed: {Error}; the message goes back to the queue", e.Message);
            return false;
        }
    }

    private async Task AckOrLeaveAsync(IChannel channel, BasicDeliverEventArgs delivery)
    {
        try
        {
            await channel.BasicAckAsync(delivery.DeliveryTag, false, CancellationToken.None);
        }
        catch (Exception e)
        {
            // The channel is gone: the broker redelivers, and the message is parked again (a second row, same id).
            _log.LogDebug("ack of a parked message failed: {Error}", e.Message);
        }
    }

    /// <summary>Puts a delivery back after <paramref name="delay"/>, so that a failing message does not spin.</summary>
    private async Task NackAsync(IChannel channel, BasicDeliverEventArgs delivery, TimeSpan delay)
    {
        await Task.Delay(delay, CancellationToken.None);
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
